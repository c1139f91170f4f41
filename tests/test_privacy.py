"""Privacy and hostile text in the restricted outputs.

Privacy, proven on a real run: the real DAGs under Airflow on a small generated history.

Every file the pipeline wrote (warehouse, published database and Parquet, control lists, GX
results and Data Docs, load log, quarantine reports, dbt logs and target, Airflow's task logs
and its metadata database with the XComs) is scanned for every fødselsnummer of the input;
none may appear. The only files allowed to hold them are the input itself: the landing area
and the copies of rejected deliveries in quarantine. Also: a kommune's control list holds only
its own persons, and the restricted outputs are owner-only.

Hostile text: the contract admits no free text (every text column is a code, a number or a
date), so formula or markup text in a delivery is rejected before it is loaded; text the
pipeline writes itself (``detalj``) is neutralised in the CSV lists and escaped in the HTML.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from nir.config import load_settings
from nir.contracts import nir_export as spec

SNAPSHOTS = (date(2024, 2, 1), date(2024, 3, 1))
REJECTED = date(2024, 4, 1)
_DIGITS = re.compile(rb"\d{11,}")


def _fnrs(landing: Path) -> set[str]:
    out: set[str] = set()
    for path in landing.glob("*/personer.csv"):
        text = path.read_bytes().decode("latin-1")
        out |= {r["fodselsnummer"] for r in csv.DictReader(io.StringIO(text), delimiter=";")}
    return out


def _hits(data: bytes, fnrs: set[str]) -> set[str]:
    """Every fødselsnummer of ``fnrs`` inside a run of digits of ``data``."""
    found = set()
    for m in _DIGITS.finditer(data):
        run = m.group().decode()
        found |= {run[i : i + 11] for i in range(len(run) - 10)} & fnrs
    return found


def _duckdb_text(path: Path) -> bytes:
    """Every value of every table of a DuckDB file, as text (its pages may be compressed)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select database_name, schema_name, table_name from duckdb_tables() "
            "where database_name = current_database()"
        ).fetchall()
        parts = []
        for db, schema, table in tables:
            rows = con.execute(f'select * from "{db}"."{schema}"."{table}"').fetchall()
            parts.append(repr(rows))
        return "\n".join(parts).encode()
    finally:
        con.close()


def _sqlite_text(path: Path) -> bytes:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
        parts = []
        for table in tables:
            for row in con.execute(f'select * from "{table}"'):
                parts.append(
                    " ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
                )
        return "\n".join(parts).encode()
    finally:
        con.close()


def _parquet_text(path: Path) -> bytes:
    con = duckdb.connect()
    try:
        return repr(con.execute(f"select * from read_parquet('{path}')").fetchall()).encode()
    finally:
        con.close()


def _contents(path: Path) -> list[bytes]:
    """What a reader of ``path`` can see: its bytes and, for databases, their decoded values."""
    raw = path.read_bytes()
    out = [raw]
    if raw.startswith(b"SQLite format 3"):
        out.append(_sqlite_text(path))
    elif path.suffix == ".parquet":
        out.append(_parquet_text(path))
    elif raw[8:12] == b"DUCK":
        out.append(_duckdb_text(path))
    return out


def _is_input(path: Path, settings) -> bool:
    """The input itself: the landing area, and the copied delivery files in quarantine."""
    if path.is_relative_to(settings.landing):
        return True
    if path.is_relative_to(settings.quarantine_dir):
        return path.name in spec.FILES_BY_NAME or path.name == spec.MANIFEST
    return False


def _corrupt_fnr(delivery: Path) -> str:
    """Make one fødselsnummer of ``delivery`` malformed (12 digits) and put another person's
    valid one in the wrong column (``bosatt_kommune``, issue #12); keep the manifest right."""
    path = delivery / "personer.csv"
    lines = path.read_bytes().split(b"\n")
    header = lines[0].decode().split(";")
    fields = lines[1].split(b";")
    fields[1] = fields[1] + b"7"
    lines[1] = b";".join(fields)
    other = lines[3].split(b";")
    other[header.index("bosatt_kommune")] = lines[2].split(b";")[1]
    lines[3] = b";".join(other)
    path.write_bytes(b"\n".join(lines))
    manifest = json.loads((delivery / spec.MANIFEST).read_text("utf-8"))
    manifest["files"]["personer.csv"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (delivery / spec.MANIFEST).write_text(json.dumps(manifest, indent=2), "utf-8")
    return fields[1].decode()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """nir_monthly for two periods and for a third whose delivery is rejected, then the lists."""
    from nir import pipeline
    from nir.orchestration import embedded as orchestrate
    from nir.tools.generate import generate

    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("privacy") / "data",
        gate_max_ikke_registrert_share=0.25,
        gx_data_docs="always",  # the scan covers GX's Data Docs too
    )
    generate(settings.landing, persons=300, start="2024-01", end="2024-03", seed=4, daily=0)
    fnrs = _fnrs(settings.landing)
    bad_value = _corrupt_fnr(pipeline.delivery_dir(settings, REJECTED))
    orchestrate.prepare(settings)
    outcomes = orchestrate.run(settings, orchestrate.monthly_requests([*SNAPSHOTS, REJECTED]))
    return settings, fnrs, bad_value, outcomes


@pytest.mark.integration
def test_the_runs_did_what_the_scan_relies_on(run):
    settings, fnrs, _, outcomes = run
    assert [o.state for o in outcomes] == ["success", "success", "failed"], [
        (o.failed_tasks, o.error) for o in outcomes
    ]
    assert outcomes[2].task_states["check_contract"] == "failed"
    assert len(fnrs) >= 250
    home = settings.data_dir / "airflow"
    # DAG.test() runs the tasks in the worker: their logs go to the run log
    task_log = (home / "logs" / "nir-runs.log").read_text("utf-8")
    assert "starting task_id=load" in task_log and "snapshot 2024-03-01" in task_log
    con = sqlite3.connect(home / "airflow.db")
    try:
        assert con.execute("select count(*) from xcom").fetchone()[0] > 0
    finally:
        con.close()
    assert settings.published_db.exists() and list(settings.gx_dir.rglob("index.html"))
    assert list((settings.data_dir / "dbt" / "logs").glob("*.log"))
    assert len(list(settings.quarantine_dir.glob("*/REJECTED.txt"))) == 1


@pytest.mark.integration
def test_the_scan_finds_numbers_where_they_are(run):
    """The scanner is not blind: the input and the quarantined copy hold the numbers."""
    settings, fnrs, bad_value, _ = run
    landing = _hits((settings.landing / "2024-02-01" / "personer.csv").read_bytes(), fnrs)
    assert len(landing) >= 250
    (copy,) = settings.quarantine_dir.glob("*/personer.csv")
    assert _hits(copy.read_bytes(), fnrs) and bad_value.encode() in copy.read_bytes()


@pytest.mark.integration
def test_no_fodselsnummer_in_anything_the_pipeline_wrote(run):
    settings, fnrs, bad_value, _ = run
    scanned, leaks = 0, {}
    for path in sorted(settings.data_dir.rglob("*")):
        if not path.is_file() or path.is_symlink() or _is_input(path, settings):
            continue
        scanned += 1
        for content in _contents(path):
            found = _hits(content, fnrs)
            if bad_value.encode() in content:
                found.add(bad_value)
            if found:
                leaks[str(path.relative_to(settings.data_dir))] = sorted(found)[:3]
    assert scanned > 50
    assert not leaks


@pytest.mark.integration
def test_each_kommune_list_holds_only_its_own_persons(run):
    settings, *_ = run
    con = duckdb.connect(str(settings.kontroll_dir / "kontroll.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select programkommune, nir_lopenr from kontroll.kontroll.kontrolliste "
            "where snapshot_date = ?",
            [SNAPSHOTS[-1]],
        ).fetchall()
    finally:
        con.close()
    per_kommune: dict[str, set[str]] = {}
    for kommune, lopenr in rows:
        per_kommune.setdefault(kommune, set()).add(str(lopenr))
    folder = settings.kontroll_dir / "lister" / SNAPSHOTS[-1].isoformat()
    assert sorted(p.name for p in folder.iterdir()) and len(per_kommune) > 5
    everyone = set().union(*per_kommune.values())
    for sub in (p for p in folder.iterdir() if p.is_dir()):
        own = per_kommune.get(sub.name, set())
        (csv_file,) = sub.glob("kontrolliste_*.csv")
        text = csv_file.read_bytes().decode("utf-8-sig")
        listed = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
        assert {r["Kommune"].split()[0] for r in listed} <= {sub.name}
        assert {r["NIR-løpenummer"] for r in listed if r["Status"] != "rettet"} == own
        (html_file,) = sub.glob("kommunepakke_*.html")
        cells = set(re.findall(r"<td[^>]*>(\d+)</td>", html_file.read_text("utf-8")))
        assert cells & everyone <= own | {r["NIR-løpenummer"] for r in listed}


@pytest.mark.integration
def test_restricted_outputs_are_owner_only(run):
    settings, *_ = run
    restricted = [
        settings.kontroll_dir,
        settings.secrets_dir,
        settings.logs_dir,
        settings.data_dir / "airflow" / "logs",  # task logs can quote what a task saw
    ]
    wrong = {}
    for top in restricted:
        assert top.exists(), top
        for path in [top, *top.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode & 0o077:
                wrong[str(path.relative_to(settings.data_dir))] = oct(mode)
    assert not wrong
    # rejected deliveries keep their files as delivered, inside an owner-only folder
    assert stat.S_IMODE(settings.quarantine_dir.stat().st_mode) == 0o700
    # the warehouse holds nir_lopenr, pseudonyms and every control finding
    assert stat.S_IMODE(settings.warehouse.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(settings.load_log.stat().st_mode) == 0o600


# --- hostile text ----------------------------------------------------------------------------
HOSTILE = [
    '=HYPERLINK("http://x","klikk")',
    "<script>alert(1)</script>",
    "+47 22 00 00 00",
    "-2+3",
    "@SUM(A1:A9)",
    '"><img src=x onerror=alert(1)>',
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_text_in_a_delivery_is_rejected_before_it_is_loaded(tmp_path, value):
    """landbakgrunn is the only text column without a code list: it must be a 3-letter code."""
    from nir.tools.generate import generate

    settings = load_settings(data_dir=tmp_path / "data", pseudonym_key="h" * 32)
    (delivery,) = generate(
        settings.landing, persons=30, start="2024-01", end="2024-01", seed=1, daily=0
    )
    path = delivery / "personer.csv"
    manifest = json.loads((delivery / spec.MANIFEST).read_text("utf-8"))
    lines = path.read_bytes().decode(manifest["encoding"]).split("\n")
    header = lines[0].split(";")
    fields = next(csv.reader([lines[1]], delimiter=";"))
    fields[header.index("landbakgrunn")] = value
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="").writerow(fields)
    lines[1] = out.getvalue()
    path.write_bytes("\n".join(lines).encode(manifest["encoding"]))
    manifest["files"]["personer.csv"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (delivery / spec.MANIFEST).write_text(json.dumps(manifest), "utf-8")

    env = {k: v for k, v in os.environ.items() if not k.startswith("NIR_")}
    env.update(NIR_DATA_DIR=str(settings.data_dir), NIR_PSEUDONYM_KEY="h" * 32)
    proc = subprocess.run(
        [sys.executable, "-m", "nir", "load", str(delivery)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert "landbakgrunn" in proc.stderr and "alpha-3" in proc.stderr
    assert not settings.warehouse.exists()  # nothing was loaded
    (report,) = settings.quarantine_dir.glob("*/REJECTED.txt")
    assert "landbakgrunn" in report.read_text("utf-8")


@pytest.fixture
def tricky_lists(tmp_path):
    """Control lists whose ``detalj`` texts carry CSV structure, formulas and markup."""
    from test_gate_fixtures import make_snapshot

    from nir.kommune.controllists import write_control_lists

    settings = load_settings(data_dir=tmp_path / "data")
    snap = date(2024, 2, 1)
    make_snapshot(settings, snap)
    texts = {
        1000: 'a;b "c"\r\n=1+1',
        1003: '"><img src=x onerror=alert(1)> & <b>',
        1006: "\t=cmd|' /C calc'!A0",
    }
    con = duckdb.connect(str(settings.warehouse))
    try:
        for lopenr, text in texts.items():
            con.execute(
                "update marts.kontrolliste set detalj = ? where nir_lopenr = ?", [text, lopenr]
            )
    finally:
        con.close()
    return write_control_lists(settings, snap) / "0301", texts


def test_csv_cells_round_trip_and_none_starts_a_formula(tricky_lists):
    folder, texts = tricky_lists
    (path,) = folder.glob("kontrolliste_*.csv")
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    assert len(rows) == 3  # separators and line breaks inside a text stay inside its cell
    got = {int(r["NIR-løpenummer"]): r["Detalj"] for r in rows}
    assert got[1000] == texts[1000]  # starts with a letter: unchanged
    assert got[1006] == "'" + texts[1006]
    for r in rows:
        for cell in r.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_html_escapes_quotes_ampersands_and_tags(tricky_lists):
    folder, _ = tricky_lists
    (path,) = folder.glob("kommunepakke_*.html")
    html = path.read_text("utf-8")
    assert "<img" not in html and "<b>" not in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt; &amp; &lt;b&gt;" in html
    assert "a;b &#34;c&#34;" in html
