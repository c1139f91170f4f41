"""Write-audit-publish, final figures and revisions, on a small synthetic warehouse."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from datetime import date

import duckdb
import pytest
from test_gate_fixtures import make_snapshot

from nir.config import load_settings
from nir.gate import GateFailed, run_gate
from nir.publication.publish import IDENTIFIER_COLUMNS, PUBLISHED_TABLES, freeze_final, publish

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
        "select avsluttede, snapshot_date, status from statistikk.statistikk.deltakelse_aar "
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
    assert tables == set(PUBLISHED_TABLES)
    for t in PUBLISHED_TABLES.values():
        cols = [
            r[0]
            for r in _read(
                db,
                "select column_name from duckdb_columns() "
                "where schema_name = 'statistikk' and table_name = ?",
                [t.name],
            )
        ]
        assert set(cols) == set(t.columns)
        assert not IDENTIFIER_COLUMNS & set(cols)
    parquet = settings.published_dir / "parquet"
    assert parquet.is_symlink()
    assert sorted(p.name for p in parquet.iterdir()) == sorted(
        f"{t}.parquet" for t in PUBLISHED_TABLES
    )
    record = json.loads((settings.published_dir / "statistikk.json").read_text())
    assert record["sha256"] == hashlib.sha256(db.read_bytes()).hexdigest()
    assert record["rows"]["deltakelse_aar"] > 0
    assert record["sources"]["deltakelse_aar"]["2023"] == {
        "snapshot": "2024-02-01",
        "status": "forelopig",
    }
    wh = duckdb.connect(str(settings.warehouse), read_only=True)
    logged = wh.execute(
        "select snapshot_date, sha256 from publiseringsarkiv.publiseringslogg"
    ).fetchall()
    wh.close()
    assert logged == [(S1, record["sha256"])]
    assert not list(settings.published_dir.glob("*.tmp-*"))


def test_failed_gate_leaves_published_file_byte_for_byte_unchanged(settings):
    db = _publish(settings, S1)
    before = db.read_bytes()
    meta_before = (settings.published_dir / "statistikk.json").read_bytes()
    make_snapshot(settings, S2, ikke_registrert_2023=0.15)
    with pytest.raises(GateFailed, match=r"share ikke registrert 2023 = 15\.0% > 5\.0%"):
        run_gate(settings, S2)
    with pytest.raises(GateFailed, match="gate failed for 2024-03-01"):
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
        "from statistikk.statistikk.revisjoner "
        "where aar = 2023 and nivaa = 'land' and maal = 'avsluttede'",
    )
    assert rev == [(first[0], S1, final[0], 12.0, "endelig")]
    rev_2024 = _read(
        db,
        "select forste_snapshot, status, endring from statistikk.statistikk.revisjoner "
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

    with pytest.raises(NirError, match="cannot freeze 2023: its final snapshot 2024-03-01"):
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
            " from statistikk.statistikk.deltakelse_aar"
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


def test_failed_audit_publishes_nothing(settings):
    from nir.gate import PublicationRejected

    db = _publish(settings, S1)
    before = db.read_bytes()
    parquet_before = sorted(p.name for p in settings.published_dir.glob("parquet-*"))
    make_snapshot(settings, S2)
    con = duckdb.connect(str(settings.warehouse))
    con.execute(  # a count of 2 left visible by the disclosure control
        "update publisering.tiltak_aar set deltakere = 2 "
        "where snapshot_date = ? and nivaa = 'kommune' and region = '0301' and aar = 2024",
        [S2],
    )
    con.close()
    run_gate(settings, S2)  # the gate sees the unsuppressed marts: it passes
    with pytest.raises(PublicationRejected, match="publication audit failed for 2024-03-01"):
        publish(settings, S2)
    assert db.read_bytes() == before
    assert not list(settings.published_dir.glob("*.tmp-*"))
    assert sorted(p.name for p in settings.published_dir.glob("parquet-*")) == parquet_before
    record = json.loads((settings.published_dir / "statistikk.json").read_text())
    assert record["snapshot"] == "2024-02-01"
    gate = json.loads((settings.gx_dir / "2024-03-01" / "gate.json").read_text())
    assert gate["passed"] is False  # its figures are never picked for a later publication
    assert "tiltak_aar.deltakere visible below 3" in gate["message"]
