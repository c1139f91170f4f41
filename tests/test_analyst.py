"""The published database as a new analyst meets it (issue #14), on a small real run:
the synthetic warehouse of test_gate_fixtures, the gate, `publish`.

The published file ``nir.duckdb``: views in ``main``, comments, per-cell ``<measure>_status``
columns, the label tables, Parquet metadata and ``jsonstat/``, all written by ``publish``.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pytest
from pyjstat import pyjstat
from test_gate_fixtures import make_snapshot

from nir.catalog import load_catalog
from nir.config import load_settings
from nir.gate import run_gate
from nir.publication.jsonstat import measures, write_jsonstat
from nir.publication.publish import publish

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SNAP = date(2024, 3, 1)  # the final snapshot of 2023: 2023 endelig, 2024 forelopig
NOT_CODES = ("aar", "periode", "region")  # years, periods: their own labels; regions: regioner


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyst")
    settings = load_settings(data_dir=root / "data")
    make_snapshot(settings, SNAP)
    run_gate(settings, SNAP)
    publish(settings, SNAP)
    return settings, load_catalog(settings)


def _rows(con, sql, params=None):
    cur = con.execute(sql, params or [])
    names = [c[0] for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _coded_columns(table) -> list[str]:
    return [c for c in (*table.rad, "nivaa", "status") if c not in NOT_CODES]


def _unlabelled(con, catalog, labels: str, regions: str) -> list[str]:
    """Codes of the published tables without a row in the label tables."""
    missing = []
    for t in catalog.values():
        for col in dict.fromkeys(_coded_columns(t)):
            if col not in t.columns:
                continue
            rows = con.execute(
                f"select distinct p.{col} from statistikk.{t.name} p "
                f"anti join {labels} e on e.kodeliste = ? and e.kode = p.{col}",
                [col],
            ).fetchall()
            missing += [f"{t.name}.{col} = {r[0]}" for r in rows]
        if "region" in t.rad:
            rows = con.execute(
                f"select distinct p.nivaa, p.region from statistikk.{t.name} p anti join "
                f"(select * from {regions} where gyldig_til is null) r "
                "on r.nivaa = p.nivaa and r.region = p.region"
            ).fetchall()
            missing += [f"{t.name}: region {n} {r}" for n, r in rows]
    return missing


def test_every_code_in_a_published_table_has_a_label_in_the_warehouse(run):
    """The dbt label tables (publisering.etiketter, publisering.regioner) cover every code."""
    settings, catalog = run
    con = duckdb.connect()
    try:
        con.execute(f"attach '{settings.published_db}' as pub (read_only)")
        con.execute(f"attach '{settings.warehouse}' as lager (read_only)")
        con.execute("use pub")
        missing = _unlabelled(
            con, catalog, "lager.publisering.etiketter", "lager.publisering.regioner"
        )
        kontroller = con.execute(
            "select count(*) from lager.publisering.etiketter where kodeliste = 'kontroll'"
        ).fetchone()[0]
    finally:
        con.close()
    assert missing == []
    assert kontroller == 8


def test_the_label_tables_are_described_and_have_unique_codes(run):
    settings, _ = run
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        comments = con.execute(
            "select table_name, column_name, comment from duckdb_columns() "
            "where schema_name = 'publisering' and table_name in ('etiketter', 'regioner')"
        ).fetchall()
        duplicates = con.execute(
            "select kodeliste, kode from publisering.etiketter group by all having count(*) > 1"
        ).fetchall()
        oslo = con.execute(
            "select region_navn, gyldig_til from publisering.regioner "
            "where nivaa = 'kommune' and region = '0301'"
        ).fetchall()
    finally:
        con.close()
    assert len(comments) == 10 and all(c for _, _, c in comments)
    assert duplicates == []
    assert oslo == [("Oslo", None)]


def _compare_jsonstat(path: Path, table, frame: list[dict]) -> int:
    """Assert the dataset read back by pyjstat equals the table; returns cells compared."""
    text = path.read_text("utf-8")
    values = pyjstat.Dataset.read(text).write("dataframe", naming="id")
    statuses = pyjstat.Dataset.read(text).write("dataframe", naming="id", value="status")
    dims = [c for c in values.columns if c != "value"]
    v = {tuple(r[d] for d in dims): r["value"] for _, r in values.iterrows()}
    s = {tuple(r[d] for d in dims): r["status"] for _, r in statuses.iterrows()}
    grain = [c for c in table.rad if c != "nivaa"]
    n = 0
    for row in frame:
        for m in measures(table):
            if m not in row:
                continue
            key = (*(str(row[d]) for d in grain), m)
            got, mark = v[key], s[key]
            missing = got is None or (isinstance(got, float) and math.isnan(got))
            if row[m] is None:  # hidden (":") or no figure (".."), as the row's status says
                assert missing and mark == row.get(f"{m}_status", ":"), key
            else:
                assert float(got) == pytest.approx(float(row[m])), key
                shown = None if not isinstance(mark, str) else mark
                assert shown == ("*" if row["status"] == "forelopig" else None), key
            n += 1
    return n


def test_jsonstat_of_the_published_database_reads_back_to_its_values(run, tmp_path):
    settings, catalog = run
    con = duckdb.connect()
    try:
        con.execute(f"attach '{settings.published_db}' as pub (read_only)")
        con.execute("use pub")
        paths = write_jsonstat(
            con, catalog, tmp_path, snapshot=SNAP, published_at="2024-03-02T00:00:00+00:00"
        )
        frames = {t: _rows(con, f"select * from statistikk.{t}") for t in catalog}
    finally:
        con.close()
    compared = sum(_compare_jsonstat(p, catalog[p.stem], frames[p.stem]) for p in paths)
    assert compared > 1000
    assert any(r["prikket"] for rows in frames.values() for r in rows) or compared


# --- the published file's design (publish.py) ------------------------------------------------
def _published_file(settings) -> Path:
    return settings.published_dir / "nir.duckdb"


def test_the_file_is_not_named_like_its_schema(run):
    settings, _ = run
    assert settings.published_db.stem != "statistikk"
    assert _published_file(settings).is_file()


def test_plain_table_names_work_when_opened_or_attached_read_only(run):
    settings, catalog = run
    db = _published_file(settings)
    con = duckdb.connect(str(db), read_only=True)
    try:
        for t in (*catalog, "etiketter", "regioner"):
            n = con.execute(f"select count(*) from {t}").fetchone()[0]
            assert n == con.execute(f"select count(*) from statistikk.{t}").fetchone()[0] > 0
    finally:
        con.close()
    con = duckdb.connect()
    try:
        con.execute(f"attach '{db}' as pub (read_only)")
        assert con.execute("select count(*) from pub.resultater_aar").fetchone()[0] > 0
        con.execute("use pub")
        assert con.execute("select count(*) from resultater_aar").fetchone()[0] > 0
    finally:
        con.close()


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## For analysts", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README's For analysts section has no sh example"
    commands = block.group(1).replace("\\\n", " ").strip().splitlines()
    assert commands and all(c.startswith("duckdb ") for c in commands)
    return commands


_SHIM = textwrap.dedent(
    """\
    #!{python}
    # `duckdb -readonly FILE SQL` with the pinned DuckDB (no DuckDB {major} CLI on PyPI here)
    import sys, duckdb
    args = sys.argv[1:]
    ro = "-readonly" in args
    args = [a for a in args if a != "-readonly"]
    con = duckdb.connect(args[0], read_only=ro)
    for sql in args[1:]:
        con.sql(sql).show()
    """
)


def _duckdb_cli(tmp_path: Path) -> Path:
    """The duckdb CLI of the pinned version, or a shim that runs it through the package."""
    found = shutil.which("duckdb")
    major = duckdb.__version__.split(".")[0]
    if found:
        out = subprocess.run([found, "-version"], capture_output=True, text=True).stdout
        if out.lstrip("v").startswith(major + "."):
            return Path(found).parent
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "duckdb"
    shim.write_text(_SHIM.format(python=sys.executable, major=major))
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_the_readme_example_queries_run_unchanged(run, tmp_path):
    settings, _ = run
    bin_dir = _duckdb_cli(tmp_path)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    for command in _readme_commands():
        proc = subprocess.run(
            ["bash", "-c", command],
            cwd=settings.data_dir.parent,  # the README's paths start at data/
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, f"{command}\n{proc.stderr}"
        assert proc.stdout.strip(), command


def test_every_published_table_and_column_has_a_comment(run):
    settings, catalog = run
    con = duckdb.connect(str(_published_file(settings)), read_only=True)
    try:
        tables = con.execute(
            "select table_name, comment from duckdb_tables() where schema_name = 'statistikk'"
        ).fetchall()
        columns = con.execute(
            "select table_name, column_name, comment from duckdb_columns() "
            "where schema_name = 'statistikk'"
        ).fetchall()
    finally:
        con.close()
    assert {t for t, _ in tables} == {*catalog, "etiketter", "regioner"}
    assert [t for t, c in tables if not (c or "").strip()] == []
    assert [f"{t}.{c}" for t, c, comment in columns if not (comment or "").strip()] == []


def test_every_code_in_the_published_file_has_a_label(run):
    settings, catalog = run
    con = duckdb.connect(str(_published_file(settings)), read_only=True)
    try:
        assert _unlabelled(con, catalog, "statistikk.etiketter", "statistikk.regioner") == []
    finally:
        con.close()


def test_each_figure_has_a_status_saying_hidden_preliminary_or_final(run):
    settings, catalog = run
    con = duckdb.connect(str(_published_file(settings)), read_only=True)
    try:
        for t in catalog.values():
            for m in measures(t):
                wrong = con.execute(
                    f"select count(*) from statistikk.{t.name} where not coalesce("
                    f"case when {m} is null then {m}_status in (':', '..') "
                    f"else {m}_status = status end, false)"
                ).fetchone()[0]
                assert wrong == 0, f"{t.name}.{m}_status"
        hidden = con.execute(
            "select count(*) from statistikk.resultater_aar where avsluttede_status = ':'"
        ).fetchone()[0]
        statuses = {
            r[0]
            for r in con.execute(
                "select distinct deltakere_status from statistikk.deltakelse_aar"
            ).fetchall()
        }
    finally:
        con.close()
    assert hidden >= 0 and {"forelopig", "endelig"} <= statuses


def test_parquet_files_carry_the_descriptions(run):
    import pyarrow.parquet as pq

    settings, catalog = run
    con = duckdb.connect(str(_published_file(settings)), read_only=True)
    try:
        comments = {
            (t, c): comment
            for t, c, comment in con.execute(
                "select table_name, column_name, comment from duckdb_columns() "
                "where schema_name = 'statistikk'"
            ).fetchall()
        }
    finally:
        con.close()
    for t in catalog:
        schema = pq.read_schema(settings.published_dir / "parquet" / f"{t}.parquet")
        assert (schema.metadata or {}).get(b"description"), t
        for field in schema:
            got = (field.metadata or {}).get(b"description", b"").decode()
            assert got and got == comments[(t, field.name)], f"{t}.{field.name}"


def test_published_jsonstat_files_read_back_to_the_tables(run):
    settings, catalog = run
    folder = settings.published_dir / "jsonstat"
    con = duckdb.connect(str(_published_file(settings)), read_only=True)
    try:
        frames = {t: _rows(con, f"select * from statistikk.{t}") for t in catalog}
    finally:
        con.close()
    for t in catalog.values():
        assert _compare_jsonstat(folder / f"{t.name}.json", t, frames[t.name]) > 0
