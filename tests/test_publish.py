"""Write-audit-publish, final figures and revisions, on a small synthetic warehouse."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from datetime import date

import duckdb
import pytest
from nir_expectations.publication import IDENTIFIER_COLUMNS
from test_gate_fixtures import make_snapshot

from nir.catalog import load_catalog
from nir.config import load_settings
from nir.gate import GateFailed, run_gate
from nir.publication.publish import freeze_final, publish

pytestmark = pytest.mark.integration

S1, S2, S3 = date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data")


def _publish(settings, snapshot, **kwargs):
    make_snapshot(settings, snapshot, **kwargs)
    run_gate(settings, snapshot)
    return publish(settings, snapshot)


def _read(db, sql, params=None):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _land_avsluttede(db, aar):
    return _read(
        db,
        "select avsluttede, snapshot_date, status from statistikk.deltakelse_aar "
        "where aar = ? and nivaa = 'land' and kjonn = 'alle' and aldersgruppe = 'alle'",
        [aar],
    )[0]


def test_publish_writes_the_six_tables_parquet_and_a_record(settings):
    db = _publish(settings, S1)
    assert db == settings.published_db
    tables = {
        r[0]
        for r in _read(
            db, "select table_name from duckdb_tables() where schema_name = 'statistikk'"
        )
    }
    catalog = load_catalog(settings)
    labels = {"etiketter", "regioner"}  # the label tables, published as they are
    assert (
        tables - labels
        == set(catalog)
        == {
            "deltakelse_aar",
            "resultater_aar",
            "tiltak_aar",
            "deltakelse_maaned",
            "registreringskvalitet",
            "revisjoner",
        }
    )
    for t in catalog.values():
        cols = [
            r[0]
            for r in _read(
                db,
                "select column_name from duckdb_columns() "
                "where schema_name = 'statistikk' and table_name = ?",
                [t.name],
            )
        ]
        assert cols == list(t.published_columns)
        assert not IDENTIFIER_COLUMNS & set(cols)
    assert labels < tables
    parquet, jsonstat = (settings.published_dir / k for k in ("parquet", "jsonstat"))
    assert parquet.is_symlink() and jsonstat.is_symlink()
    assert sorted(p.name for p in parquet.iterdir()) == sorted(f"{t}.parquet" for t in tables)
    assert sorted(p.name for p in jsonstat.iterdir()) == sorted(f"{t}.json" for t in catalog)
    record = json.loads((settings.published_dir / "statistikk.json").read_text())
    assert record["sha256"] == hashlib.sha256(db.read_bytes()).hexdigest()
    assert record["rows"]["deltakelse_aar"] > 0
    assert record["sources"]["deltakelse_aar"]["2023"] == {
        "snapshot": "2024-02-01",
        "status": "forelopig",
    }
    assert record["file"] == "nir.duckdb"  # relative to the published folder
    assert record["disclosure"]["audit_recoverable_primary"] == 0
    logged = (settings.published_dir / "publiseringslogg.jsonl").read_text().splitlines()
    assert [json.loads(line)["sha256"] for line in logged] == [record["sha256"]]
    assert not list(settings.published_dir.glob("*.tmp-*"))


def test_failed_gate_leaves_published_file_byte_for_byte_unchanged(settings):
    db = _publish(settings, S1)
    before = db.read_bytes()
    meta_before = (settings.published_dir / "statistikk.json").read_bytes()
    make_snapshot(settings, S2, ikke_registrert_2023=0.15)
    with pytest.raises(GateFailed, match=r"share ikke registrert 2023 = 15\.0% > 5\.0%"):
        run_gate(settings, S2)
    with pytest.raises(GateFailed, match="snapshot 2024-03-01 has not passed its gate"):
        publish(settings, S2)
    assert db.read_bytes() == before
    assert (settings.published_dir / "statistikk.json").read_bytes() == meta_before
    assert not list(settings.published_dir.glob("*.tmp-*"))
    # `nir status` tells what is published and why the last snapshot was not
    from nir.status import collect, render

    text = render(collect(settings))
    assert "newest snapshot 2024-02-01" in text
    assert "2023: forelopig from 2024-02-01" in text
    assert "2024-03-01: FAILED" in text
    assert "x share ikke registrert 2023 = 15.0% > 5.0% (hard)" in text


def test_publish_runs_the_gate_when_it_has_not_run(settings):
    db = _publish(settings, S1)
    before = db.read_bytes()
    make_snapshot(settings, S2, error_share=0.3)
    with pytest.raises(GateFailed, match=r"share spells with error finding = 30\.0%"):
        publish(settings, S2)  # no `run_gate` first: publish runs it
    assert db.read_bytes() == before


def test_final_figures_are_frozen_and_revisions_published(settings):
    db = _publish(settings, S1, bump=0)
    first = _land_avsluttede(db, 2023)
    assert first[2] == "forelopig"
    # 2024-03-01 is the first monthly snapshot after the deadline for 2023 (29.02.2024)
    _publish(settings, S2, bump=3)
    final = _land_avsluttede(db, 2023)
    assert final == (first[0] + 4 * 3, S2, "endelig")  # four cells of Bergen, +3 each
    # a later snapshot with corrections for 2023 changes 2024's figures, not 2023's
    _publish(settings, S3, bump=10)
    assert _land_avsluttede(db, 2023) == final
    assert _land_avsluttede(db, 2024)[1:] == (S3, "forelopig")
    assert freeze_final(settings, 2023) == S2  # idempotent
    assert _land_avsluttede(db, 2023) == final
    rev = _read(
        db,
        "select forste_verdi, forste_snapshot, endelig_verdi, endring, status "
        "from statistikk.revisjoner "
        "where aar = 2023 and nivaa = 'land' and maal = 'avsluttede'",
    )
    assert rev == [(first[0], S1, final[0], 12.0, "endelig")]
    rev_2024 = _read(
        db,
        "select forste_snapshot, status, endring from statistikk.revisjoner "
        "where aar = 2024 and nivaa = 'land' and maal = 'avsluttede'",
    )
    assert rev_2024 == []  # 2024 is still running: no preliminary figure for the year yet
    record = json.loads((settings.published_dir / "statistikk.json").read_text())
    assert record["sources"]["resultater_aar"]["2023"] == {
        "snapshot": "2024-03-01",
        "status": "endelig",
    }


def test_freeze_without_a_passed_snapshot_after_the_deadline_says_so(settings):
    _publish(settings, S1)
    from nir.errors import NirError

    with pytest.raises(NirError, match="cannot freeze 2023: its final snapshot"):
        freeze_final(settings, 2023)


READER = textwrap.dedent(
    """
    import json, os, sys, time
    import duckdb

    db, stop = sys.argv[1], sys.argv[2]
    seen, errors, reads = set(), [], 0

    def check(con):
        rows = con.execute(
            "select snapshot_date, sum(avsluttede) filter (where nivaa = 'land'),"
            " sum(avsluttede) filter (where nivaa = 'fylke')"
            " from statistikk.deltakelse_aar"
            " where aar = 2024 and kjonn = 'alle' and aldersgruppe = 'alle'"
            " group by snapshot_date").fetchall()
        if len(rows) != 1 or rows[0][1] != rows[0][2]:
            raise AssertionError(f"inconsistent figures: {rows}")
        return str(rows[0][0])

    held = duckdb.connect(db, read_only=True)  # held open across every publication
    held_first = check(held)
    while not os.path.exists(stop):
        try:
            con = duckdb.connect(db, read_only=True)
            try:
                seen.add(check(con))
            finally:
                con.close()
            if check(held) != held_first:
                raise AssertionError("the held connection changed")
            reads += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.01)
    print(json.dumps({"seen": sorted(seen), "errors": errors[:5], "reads": reads,
                      "held": held_first}))
    """
)


def test_reader_sees_old_or_new_figures_never_an_error(settings, tmp_path):
    db = _publish(settings, S1)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _publish(settings, S2, bump=2)
        _publish(settings, S3, bump=5)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    result = json.loads(out)
    assert result["errors"] == []
    assert result["reads"] > 0
    assert set(result["seen"]) <= {"2024-02-01", "2024-03-01", "2024-04-01"}
    assert result["held"] == "2024-02-01"
    assert _land_avsluttede(db, 2024)[1] == S3
    assert os.stat(db).st_mode & 0o777 == 0o644


def test_an_audit_that_fails_while_the_tables_are_written_publishes_nothing(settings, monkeypatch):
    """The audit runs while the tables are written and checked, and is awaited by the
    publication suite's last check: an audit that raises there (a declared relation the
    figures break) rejects the publication as it did when it ran first."""
    from nir.gate import PublicationRejected
    from nir.publication import attack

    settings = settings.model_copy(update={"disclosure_processes": 1})  # the patch: here
    db = _publish(settings, S1)
    before = db.read_bytes()
    make_snapshot(settings, S2)
    run_gate(settings, S2)

    def broken(*args, **kwargs):
        raise ValueError("the visible cells violate relation(s) deltakelse_aar.deltakere")

    monkeypatch.setattr(attack, "audit_publication", broken)
    with pytest.raises(PublicationRejected, match="publication audit failed for 2024-03-01"):
        publish(settings, S2)
    assert db.read_bytes() == before
    assert not list(settings.published_dir.glob("*.tmp-*"))
    assert not settings.disclosure_cache.exists()  # the next run decides every year afresh
    monkeypatch.undo()
    publish(settings, S2)  # and then publishes
    assert json.loads(settings.published_record.read_text())["snapshot"] == "2024-03-01"


def test_a_weakened_suppression_is_caught_by_the_audit_and_publishes_nothing(settings, monkeypatch):
    from nir.gate import PublicationRejected, verdict
    from nir.publication import suppression

    # the weakened suppression below is patched into this process: decide every year here
    settings = settings.model_copy(update={"disclosure_processes": 1})
    db = _publish(settings, S1)
    assert settings.suppression_cache.exists()  # the components solved, kept for the next run
    assert settings.disclosure_cache.exists()  # and the years decided
    before = db.read_bytes()
    parquet_before = sorted(p.name for p in settings.published_dir.glob("parquet-*"))
    make_snapshot(settings, S2)
    con = duckdb.connect(str(settings.warehouse))
    where = (
        "snapshot_date = ? and kontroll = 'MANGLER_VEDTAK' and region = '4601' "
        "and nivaa = 'kommune'"
    )
    (before_n,) = con.execute(
        f"select funn from marts.fct_registreringskvalitet where {where}", [S2]
    ).fetchone()
    # Bergen (4601) has 2 findings: they must be hidden, and Vestland (46) minus Kinn (4602)
    # would give them back
    con.execute(
        "update marts.fct_registreringskvalitet set funn = case when nivaa = 'kommune' then 2 "
        "else funn - ? + 2 end where snapshot_date = ? and kontroll = 'MANGLER_VEDTAK' "
        "and region in ('4601', '46', '0000')",
        [before_n, S2],
    )
    (small,) = con.execute(
        f"select funn from marts.fct_registreringskvalitet where {where}", [S2]
    ).fetchone()
    con.close()
    assert small == 2
    run_gate(settings, S2)  # the gate sees the unsuppressed marts: it passes

    real = suppression.gauss_suppress
    weakened_cells = []

    def weakened(*args, **kwargs):  # the secondary cells un-hidden: primary cells only
        result = real(*args, **kwargs)
        weakened_cells.append(int(result.secondary.sum()))
        return type(result)(
            secondary=result.secondary & False,
            hidden=result.hidden & ~result.secondary,
            candidates_tried=result.candidates_tried,
            singleton_extra=result.singleton_extra,
        )

    monkeypatch.setattr(suppression, "gauss_suppress", weakened)
    with pytest.raises(PublicationRejected, match="hidden primary cell recoverable") as err:
        publish(settings, S2)
    assert sum(weakened_cells) > 0  # called once per reference year; some had secondaries
    assert "registreringskvalitet" in str(err.value) and "4601" in str(err.value)
    assert db.read_bytes() == before
    assert not settings.suppression_cache.exists()  # the next run solves every component
    assert not settings.disclosure_cache.exists()  # and decides every year afresh
    assert not list(settings.published_dir.glob("*.tmp-*"))
    assert sorted(p.name for p in settings.published_dir.glob("parquet-*")) == parquet_before
    assert len(list(settings.published_dir.glob("jsonstat-*"))) == len(parquet_before)
    record = json.loads((settings.published_dir / "statistikk.json").read_text())
    assert record["snapshot"] == "2024-02-01"
    judged = verdict(settings, S2)  # its figures are never picked for a later publication
    assert judged is not None and judged["passed"] is False
    assert any("recoverable" in f for f in judged["hard_failures"])

    monkeypatch.setattr(suppression, "gauss_suppress", real)
    run_gate(settings, S2)  # a new gate run and a correct suppression publish it
    publish(settings, S2)
    assert json.loads((settings.published_dir / "statistikk.json").read_text())["snapshot"] == (
        "2024-03-01"
    )
    hidden = _read(
        db,
        "select funn, andel_uten_funn, prikket from statistikk.registreringskvalitet "
        "where region = '4601' and kontroll = 'MANGLER_VEDTAK'",
    )
    assert hidden == [(None, None, True)]


def test_deleting_the_gx_folder_changes_nothing_published_or_reported(settings):
    from nir.status import collect, render

    _publish(settings, S1)
    _publish(settings, S2, bump=1)
    report = render(collect(settings))
    published = _read(settings.published_db, "select * from statistikk.deltakelse_aar order by all")
    shutil.rmtree(settings.gx_dir)
    publish(settings, S2)  # the verdicts are in the warehouse, not in GX's files

    # the same report, but for the time of the new publication's own audit run
    def untimed(text: str) -> str:
        return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", "<time>", text.split("\n", 1)[1])

    assert untimed(render(collect(settings))) == untimed(report)
    assert (
        _read(
            settings.published_db,
            "select * from statistikk.deltakelse_aar order by all",
        )
        == published
    )


def test_monthly_figures_keep_every_period(settings):
    for i, snap in enumerate((S1, S2, S3)):
        _publish(settings, snap, bump=i)
    rows = _read(
        settings.published_db,
        "select periode, snapshot_date, status from statistikk.deltakelse_maaned "
        "where nivaa = 'land' order by periode",
    )
    assert rows == [
        ("2024-01", S1, "forelopig"),
        ("2024-02", S2, "forelopig"),
        ("2024-03", S3, "forelopig"),
    ]


def test_the_deadline_changed_in_its_one_place_moves_status_and_control_lists(tmp_path):
    """annual_deadline_month = 3: 2023's deadline is 31 March 2024, so the snapshot of
    1 March 2024 is preliminary for 2023, and the control lists name the new deadline."""
    from nir.kommune.controllists import write_control_lists

    late = load_settings(data_dir=tmp_path / "late", annual_deadline_month=3)
    for snap in (S1, S2):
        make_snapshot(late, snap)
        run_gate(late, snap)
        publish(late, snap)
    assert _land_avsluttede(late.published_db, 2023)[1:] == (S2, "forelopig")
    record = json.loads((late.published_dir / "statistikk.json").read_text())
    assert record["sources"]["deltakelse_aar"]["2023"]["status"] == "forelopig"
    out = write_control_lists(late, S2)
    pages = "".join(p.read_text("utf-8") for p in out.rglob("*.html"))
    assert "31.03.2024" in pages and "29.02.2024" not in pages


def test_one_checks_test_per_table_guards_every_coded_column(settings):
    """The publishing layer checks a table in one ``checks`` test (one dbt node instead of
    one test per column and rule): a wrong code in any of the four coded columns of
    deltakelse_aar fails it, each as its own finding, named in the error."""
    from nir.warehouse.dbt import TransformError, run_dbt

    _publish(settings, S1)
    con = duckdb.connect(str(settings.warehouse))
    try:
        for column, wrong in {
            "nivaa": "bydel", "kjonn": "X", "aldersgruppe": "0-17", "status": "utkast",
        }.items():  # fmt: skip
            con.execute(
                f"insert into publisering.deltakelse_aar select * replace ('{wrong}' as {column}) "
                "from publisering.deltakelse_aar where nivaa = 'land' limit 1"
            )
    finally:
        con.close()
    with pytest.raises(TransformError) as info:
        run_dbt(
            settings,
            ["test", "--select", "checks_deltakelse_aar"],
            what="the publishing layer's tests",
            snapshot=S1,
        )
    message = str(info.value)
    assert "checks_deltakelse_aar" in message
    # four wrong codes, and the row with only its status changed repeats its row's key
    assert "Got 5 results" in message
    assert "unique(aar, nivaa, region, kjonn, aldersgruppe)" in message
    for check in (
        "accepted_values(nivaa) (bydel)", "accepted_values(kjonn) (X)",
        "accepted_values(aldersgruppe) (0-17)", "accepted_values(status) (utkast)",
    ):  # fmt: skip
        assert check in message
