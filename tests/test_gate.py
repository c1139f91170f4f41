"""The GX gate: completeness, marts and publication suites on a small synthetic warehouse."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, datetime

import duckdb
import pandas as pd
import pytest
from test_gate_fixtures import make_snapshot

from nir.catalog import load_catalog
from nir.config import load_settings
from nir.gate import GateFailed, PublicationRejected, run_gate, verdict
from nir.publication.publish import publish

pytestmark = pytest.mark.integration

SNAP = date(2024, 2, 1)
#: Damages a published database: a small count shown where disclosure control hid it
UNSUPPRESSED_CELL = (
    "update statistikk.deltakelse_aar set nye_deltakere = 2 "
    "where nivaa = 'kommune' and region = '0301' and aar = 2023 "
    "and kjonn = 'K' and aldersgruppe = '18-25'"
)


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data")


def test_gate_passes_on_clean_snapshot_and_keeps_results(settings):
    make_snapshot(settings, SNAP)
    record = run_gate(settings, SNAP)
    assert record["passed"] is True
    assert record["hard_failures"] == []
    out = settings.gx_dir / SNAP.isoformat()
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    rows = con.execute(
        "select suite, sjekk, alvorlighet, bestatt, observert from gate.resultater "
        "where snapshot_date = ? order by all",
        [SNAP],
    ).fetchall()
    con.close()
    assert {r[0] for r in rows} == {"completeness", "marts"}
    assert all(r[3] for r in rows if r[2] == "hard")
    assert ("completeness", "share spells with error finding", "hard", True, "0.05") in rows
    completeness = json.loads((out / "completeness.json").read_text())
    labels = {e["label"]: e for e in completeness["expectations"]}
    assert labels["share ikke registrert 2023"]["success"] is True
    assert labels["share spells with error finding"]["observed"] == pytest.approx(0.05)
    # GX's Data Docs are rendered for failing suites only (gx_data_docs); the results page
    # is always written
    assert not (out / "docs" / "completeness" / "index.html").exists()
    assert "completeness" in (out / "docs" / "completeness" / "results.html").read_text()


def test_gate_blocks_on_ikke_registrert_share(settings):
    make_snapshot(settings, SNAP, ikke_registrert_2023=0.10)
    with pytest.raises(GateFailed) as exc:
        run_gate(settings, SNAP)
    msg = str(exc.value)
    assert msg.startswith("gate failed for 2024-02-01: ")
    assert "share ikke registrert 2023 = 10.0% > 5.0% (hard)" in msg
    assert "error finding" not in msg
    assert "\n" not in msg
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    failed = con.execute(
        "select sjekk, observert, grense from gate.resultater where not bestatt "
        "and alvorlighet = 'hard'"
    ).fetchall()
    con.close()
    assert failed == [("share ikke registrert 2023", "0.1", "5.0%")]
    # a failing suite renders GX's Data Docs, and its results page links them
    docs = settings.gx_dir / SNAP.isoformat() / "docs" / "completeness"
    assert (docs / "index.html").is_file()
    assert "GX validation pages:" in (docs / "results.html").read_text("utf-8")


def test_a_suite_never_serialises_gxs_in_memory_configuration(settings, monkeypatch):
    """GX would write the ephemeral context's whole configuration as YAML to an in-memory
    store after every asset it adds (~30 ms a suite, read by nothing); run_suite skips it,
    and a failing suite's Data Docs, which read that configuration, still render."""
    from great_expectations.data_context.data_context_variables import DataContextVariables

    saved = []
    monkeypatch.setattr(DataContextVariables, "save", lambda self: saved.append(self))
    make_snapshot(settings, SNAP, ikke_registrert_2023=0.10)
    with pytest.raises(GateFailed):
        run_gate(settings, SNAP)
    assert saved == []
    docs = settings.gx_dir / SNAP.isoformat() / "docs" / "completeness" / "validations"
    pages = [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", p.read_text("utf-8")))
        for p in docs.rglob("*.html")
    ]
    assert any("Status: Failed" in page for page in pages)


def test_gate_blocks_on_error_spell_share(settings):
    make_snapshot(settings, SNAP, error_share=0.20)
    expected = r"share spells with error finding = 20\.0% > 10\.0% \(hard\)"
    with pytest.raises(GateFailed, match=expected):
        run_gate(settings, SNAP)


def test_gate_thresholds_come_from_the_settings(tmp_path):
    strict = load_settings(data_dir=tmp_path / "data", gate_max_error_spell_share=0.04)
    make_snapshot(strict, SNAP)  # 5 % error spells: fine by default, not at 4 %
    with pytest.raises(GateFailed, match=r"= 5\.0% > 4\.0%"):
        run_gate(strict, SNAP)


def test_kommune_level_findings_warn_but_never_block(settings):
    make_snapshot(settings, SNAP, ikke_registrert_2023=0.0)
    con = duckdb.connect(str(settings.warehouse))
    # 4 of Kinn's 40 programmes ended in 2023 without a reason: 10 % in Kinn, 3.3 % nationally
    con.execute(
        """update marts.fct_programmer set ikke_registrert = true
           where programkommune = '4602' and year(sluttdato) = 2023
             and nir_lopenr in (select nir_lopenr from marts.fct_programmer
                                where programkommune = '4602' and year(sluttdato) = 2023
                                order by nir_lopenr limit 4)"""
    )
    con.close()
    record = run_gate(settings, SNAP)
    assert record["passed"] is True
    assert any("kommuner above the ikke registrert share" in w for w in record["warnings"])


def test_publication_suite_fails_on_inconsistent_unsuppressed_figures(settings):
    make_snapshot(settings, SNAP)
    con = duckdb.connect(str(settings.warehouse))
    con.execute(
        "update marts.fct_resultater_aar set avsluttede = avsluttede + 1 "
        "where nivaa = 'kommune' and region = '4601' and aar = 2023"
    )
    con.execute("delete from marts.fct_tiltak_aar where snapshot_date = ?", [SNAP])
    con.close()
    with pytest.raises(GateFailed) as exc:
        run_gate(settings, SNAP)
    msg = str(exc.value)
    # of the fylke rows of additive measures the rule judges (224 of the frame's rows)
    assert "endings/results of kommuner add up to fylke: 9 of 224 rows" in msg
    assert "resultater_aar.avsluttede kommune" not in msg  # fylke rows are the ones that differ
    assert "resultater_aar.avsluttede fylke 46 [2023|" in msg
    assert "marts built for the snapshot: 1 of 5 rows (e.g. marts.fct_tiltak_aar)" in msg


# --- publication suite after suppression ----------------------------------------------------
@pytest.fixture(scope="module")
def published_once(tmp_path_factory):
    """One publication of the synthetic snapshot for the module's tests to copy."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("published") / "data")
    make_snapshot(settings, SNAP)
    run_gate(settings, SNAP)
    publish(settings, SNAP)
    return settings.data_dir


@pytest.fixture
def published(settings, published_once):
    """The published database, in a copy of that publication's data folder of this test's own
    (the tests damage copies of the file and record verdicts: nothing is shared)."""
    shutil.copytree(published_once, settings.data_dir, symlinks=True)
    return settings.published_db


def _audit(settings, db, tmp_path, sql: str):
    """Copy the published database, damage it with ``sql``, audit it as ``publish`` does:
    the independent disclosure audit against the unsuppressed tables, then the suite."""
    from nir.gate import validate_publication
    from nir.publication.attack import audit_publication
    from nir.publication.publish import read_figures

    catalog = load_catalog(settings)
    true = read_figures(settings, catalog)
    copy = tmp_path / "damaged.duckdb"
    shutil.copy(db, copy)
    con = duckdb.connect()
    con.execute(f"attach '{copy}' as d")
    con.execute("use d")
    con.execute(sql)
    try:
        published = {
            t: con.execute(f"select * from statistikk.{t} order by {', '.join(c.rad)}").df()
            for t, c in catalog.items()
        }
        try:
            frame = audit_publication(
                published, true, catalog, settings.suppression_threshold
            ).frame()
        except ValueError:  # a changed visible value breaks the relations: the suite decides
            frame = pd.DataFrame({"celle": [], "primaer": [], "melding": []})
        return validate_publication(settings, con, SNAP, catalog, frame)
    finally:
        con.close()


def test_publication_suite_fails_on_unsuppressed_table(settings, published, tmp_path):
    with pytest.raises(PublicationRejected) as exc:
        _audit(
            settings,
            published,
            tmp_path,
            UNSUPPRESSED_CELL,
        )
    # the failure names the check and the cell (table.measure and the row's key)
    assert "a count visible below 3: 1 of" in str(exc.value)
    assert "deltakelse_aar.nye_deltakere 2023/kommune/0301/K/18-25" in str(exc.value)


def test_a_gate_run_in_the_same_second_as_a_rejected_publication_replaces_its_verdict(
    settings, published, tmp_path, monkeypatch
):
    """Suite runs are ordered by when they started, to the microsecond: a gate run a few
    hundredths of a second after a rejected publication clears the rejection (it was recorded
    to the second, so the two tied and the rejection stayed in force)."""
    import nir.gate as gate

    ticks = iter(range(1, 100))

    class Clock(datetime):  # every suite run starts 10 ms after the last, in one second
        @classmethod
        def now(cls, tz=None):
            return datetime(2030, 1, 1, 12, 0, 0, next(ticks) * 10_000, tzinfo=tz)

    monkeypatch.setattr(gate, "datetime", Clock)
    with pytest.raises(PublicationRejected):
        _audit(
            settings,
            published,
            tmp_path,
            UNSUPPRESSED_CELL,
        )
    assert verdict(settings, SNAP)["passed"] is False
    run_gate(settings, SNAP)
    judged = verdict(settings, SNAP)
    assert judged["passed"] is True and judged["run_at"] == "2030-01-01T12:00:00"


def test_publication_suite_fails_on_identifier_column(settings, published, tmp_path):
    with pytest.raises(PublicationRejected) as exc:
        _audit(
            settings,
            published,
            tmp_path,
            "alter table statistikk.resultater_aar add column nir_lopenr bigint default 1001",
        )
    msg = str(exc.value)
    assert "identifier column in a published table: 1 of" in msg
    assert "unexpected column(s) (not declared): 1 of" in msg
    assert "statistikk.resultater_aar.nir_lopenr" in msg


def test_publication_suite_fails_on_small_share_and_hours_of_a_hidden_count(
    settings, published, tmp_path
):
    with pytest.raises(PublicationRejected) as exc:
        _audit(
            settings,
            published,
            tmp_path,
            # a share shown for 4 avsluttede; hours shown where the person count is hidden
            """update statistikk.resultater_aar set avsluttede = null, prikket = true
               where nivaa = 'land' and aar = 2023 and kjonn = 'K'
                 and landbakgrunn_gruppe = 'Ukraina';
               update statistikk.tiltak_aar set deltakere = null, prikket = true
               where nivaa = 'kommune' and region = '4602' and aar = 2024
                 and tiltakskode = 'NORSK'""",
        )
    msg = str(exc.value)
    assert "a share shown with a hidden count or its denominator below" in msg
    assert "resultater_aar.andel_direkte_overgang 2023/land/0000/K/Ukraina" in msg
    assert "a measure shown where its count is hidden: 1 of" in msg
    assert "tiltak_aar.timer 2024/kommune/4602/NORSK" in msg


# Bergen's (4601) row of 2024, both sexes, every age
BERGEN_2024 = (
    "nivaa = 'kommune' and region = '4601' and aar = 2024 and kjonn = 'alle' "
    "and aldersgruppe = 'alle'"
)


def test_a_hidden_cell_the_visible_ones_give_back_is_reported_by_the_audit(
    settings, published, tmp_path
):
    # Bergen's endings hidden while Vestland's (the total) and Kinn's are shown: a secondary
    # cell that protects nothing (a warning: no primary cell is exposed)
    result = _audit(
        settings,
        published,
        tmp_path,
        "update statistikk.deltakelse_aar "
        f"set avsluttede = null, avsluttede_status = ':', prikket = true where {BERGEN_2024}",
    )
    assert result.passed
    warned = [o for o in result.warnings if o.asset == "avsloringskontroll"]
    assert warned and "deltakelse_aar.avsluttede" in warned[0].detail
    assert verdict(settings, SNAP)["passed"] is True


def test_publication_suite_fails_on_a_cell_status_that_does_not_match_its_figure(
    settings, published, tmp_path
):
    with pytest.raises(PublicationRejected) as exc:
        _audit(
            settings,
            published,
            tmp_path,
            # hidden without its mark; a shown figure marked hidden
            "update statistikk.deltakelse_aar set avsluttede = null, prikket = true "
            f"where {BERGEN_2024}; "
            "update statistikk.tiltak_aar set timer_status = ':' "
            "where nivaa = 'land' and timer is not null",
        )
    msg = str(exc.value)
    assert "a blank cell not marked ':' or '..': 1 of" in msg
    assert "deltakelse_aar.avsluttede 2024/kommune/4601/alle/alle" in msg
    assert "a shown figure not marked with its row's status" in msg
    assert "tiltak_aar.timer 2024/land/0000" in msg


def test_publication_suite_fails_on_an_unflagged_row_and_a_share_above_one(
    settings, published, tmp_path
):
    """The two rules of the cell checks no other test breaks: a row with a hidden count is
    flagged ``prikket``; a share lies in [0, 1]."""
    with pytest.raises(PublicationRejected) as exc:
        _audit(
            settings,
            published,
            tmp_path,
            "update statistikk.deltakelse_aar set avsluttede = null, "
            f"avsluttede_status = ':', prikket = false where {BERGEN_2024}; "
            "update statistikk.resultater_aar set andel_direkte_overgang = 1.5 "
            "where nivaa = 'land' and aar = 2023 and kjonn = 'alle' "
            "and landbakgrunn_gruppe = 'alle'",
        )
    msg = str(exc.value)
    assert "a hidden cell's row not flagged prikket: " in msg
    assert "deltakelse_aar.avsluttede 2024/kommune/4601/alle/alle" in msg
    assert "a share outside [0, 1]: 1 of" in msg
    assert "resultater_aar.andel_direkte_overgang 2023/land/0000/alle/alle" in msg


def test_publication_suite_passes_on_published_database(settings, published, tmp_path):
    result = _audit(settings, published, tmp_path, "select 1")
    assert result.passed
    assert not result.hard_failures


def test_publication_suite_on_a_file_without_tables_names_every_missing_column(settings):
    from nir.gate import validate_publication

    catalog = load_catalog(settings)
    con = duckdb.connect()
    con.execute("create schema statistikk")
    try:
        with pytest.raises(PublicationRejected) as exc:
            validate_publication(
                settings,
                con,
                SNAP,
                catalog,
                pd.DataFrame({"celle": [], "primaer": [], "melding": []}),
            )
    finally:
        con.close()
    msg = str(exc.value)
    declared = sum(len(t.published_columns) for t in catalog.values())
    assert f"missing column(s) (declared): {declared} of {declared} rows" in msg
    assert "statistikk.deltakelse_aar.aar" in msg
    assert ": error" not in msg  # the cell checks run on an empty frame, not into GX errors
