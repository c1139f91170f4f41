"""The IMDi tracker: projection to the deadline, who is behind, reminders, files."""

from __future__ import annotations

import csv
import io
import stat
from datetime import date, timedelta

import duckdb
import pytest

from nir.config import load_settings
from nir.kommune.tracker import aar_for_snapshot, beregn, prognose, skriv_sporing, vindu

FRIST = date(2024, 2, 29)
SNAPS = [date(2024, 1, 1), date(2024, 1, 10), date(2024, 1, 17), date(2024, 1, 24)]


def test_linear_projection_reaches_the_target_on_a_date():
    # +1 point per 7 days from 90 %: 98 % after 56 days
    pts = [(date(2024, 1, 1) + timedelta(days=7 * i), 0.90 + 0.01 * i) for i in range(4)]
    p = prognose(pts, FRIST, 0.98)
    assert p.naa == pytest.approx(0.93)
    assert p.endring == pytest.approx(0.03)
    assert p.ved_frist == pytest.approx(0.90 + 0.01 * 59 / 7)
    assert p.dato == date(2024, 2, 26)
    assert not p.henger_etter


def test_a_slow_kommune_is_behind_with_a_date_after_the_deadline():
    pts = [(date(2024, 1, 1) + timedelta(days=7 * i), 0.80 + 0.01 * i) for i in range(4)]
    p = prognose(pts, FRIST, 0.98)
    assert p.henger_etter
    assert p.ved_frist == pytest.approx(0.80 + 0.01 * 59 / 7)
    assert p.dato == date(2024, 1, 1) + timedelta(days=126)  # 18 points at 1 per week


def test_a_flat_or_falling_kommune_never_gets_there():
    flat = prognose([(SNAPS[0], 0.9), (SNAPS[1], 0.9)], FRIST, 0.98)
    assert flat.henger_etter and flat.dato is None
    one = prognose([(SNAPS[0], 0.95)], FRIST, 0.98)
    assert one.ved_frist == 0.95 and one.henger_etter and one.dato is None
    crawling = prognose([(SNAPS[0], 0.5), (SNAPS[1], 0.5 + 1e-12)], FRIST, 0.98)
    assert crawling.henger_etter and crawling.dato is None
    done = prognose([(SNAPS[0], 0.97), (SNAPS[1], 1.0)], FRIST, 0.98)
    assert not done.henger_etter and done.dato == SNAPS[1]


def test_the_correction_window_runs_from_new_year_to_the_deadline(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data")
    assert vindu(settings, 2023) == (date(2024, 1, 1), FRIST)
    assert aar_for_snapshot(settings, date(2024, 1, 1)) == 2023
    assert aar_for_snapshot(settings, FRIST) == 2023
    assert aar_for_snapshot(settings, date(2024, 3, 1)) is None
    assert aar_for_snapshot(settings, date(2023, 12, 1)) is None


# --- a hand-made series in the restricted database ------------------------------------------
CONTROLS = ("MANGLER_AVSLUTNINGSAARSAK", "MANGLER_VEDTAK", "MANGLER_TILTAK", "MANGLER_SLUTTMAAL")


def _series():
    """Oslo catches up fast; Bergen's tiltak improve slowly; Kinn is done from the start."""
    rows = []
    for i, snap in enumerate(SNAPS):
        for kontroll in CONTROLS:
            oslo = 100 - max(0, 8 - 3 * i)  # 92, 95, 98, 100 of 100
            bergen = 200 - (40 - 4 * i if kontroll == "MANGLER_TILTAK" else 0)
            for region, ok in (("0301", oslo), ("4601", bergen), ("4602", 50)):
                total = 200 if region == "4601" else (100 if region == "0301" else 50)
                rows.append((snap, "kommune", region, kontroll, total, total - ok))
            land_ok = oslo + bergen + 50
            rows.append((snap, "land", "0000", kontroll, 350, 350 - land_ok))
    return [
        (s, n, r, k, kontrollert, funn, round(1 - funn / kontrollert, 3))
        for s, n, r, k, kontrollert, funn in rows
    ]


def _write_series(settings, rows):
    settings.kontroll_dir.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(f"attach '{settings.kontroll_dir / 'kontroll.duckdb'}' as k")
    con.execute("use k")
    con.execute("create schema kontroll")
    con.execute(
        "create table kontroll.registreringskvalitet (snapshot_date date, nivaa varchar, "
        "region varchar, kontroll varchar, kontrollert bigint, funn bigint, "
        "andel_uten_funn decimal(4, 3))"
    )
    con.executemany("insert into kontroll.registreringskvalitet values (?, ?, ?, ?, ?, ?, ?)", rows)
    # outside the window: must not count
    con.execute(
        "insert into kontroll.registreringskvalitet values "
        "('2023-12-01', 'kommune', '4601', 'MANGLER_TILTAK', 200, 0, 1.0)"
    )
    con.close()


@pytest.fixture
def sporing(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data")
    _write_series(settings, _series())
    return settings, skriv_sporing(settings, 2023)


def test_the_tracker_names_the_kommune_behind_with_its_projected_date(sporing):
    _, out = sporing
    sp = beregn(_series(), aar=2023, frist=FRIST, maal=0.98, navn={"4601": "Bergen"})
    assert [r.kommune for r in sp.bak] == ["4601"]
    bergen = sp.bak[0]
    # tiltak: 80 %, 82 %, 84 %, 86 % on days 0, 9, 16, 23 -> 95 % at the deadline, and
    # 98 % on day 70 (least squares: 0.7986 + 0.00262 per day)
    tiltak = bergen.kontroller["MANGLER_TILTAK"]
    assert tiltak.henger_etter and tiltak.ved_frist == pytest.approx(0.9532, abs=1e-3)
    assert bergen.dato == date(2024, 3, 11)
    html = (out / "sporing_2023.html").read_text("utf-8")
    behind = html[html.index('id="bak"') : html.index('id="paaminnelser"')]
    assert "4601 Bergen" in behind and bergen.dato.strftime("%d.%m.%Y") in behind
    assert "0301 Oslo" not in behind and "4602 Kinn" not in behind
    assert html.count('data-bak="1"') == 1
    assert "<strong>1</strong> av 3 kommuner" in html


def test_the_reminder_uses_the_notice_terms_and_the_kommune_counts(sporing):
    _, out = sporing
    html = (out / "sporing_2023.html").read_text("utf-8")
    brev = html[html.index('id="brev-4601"') :]
    assert "Frist for å oppdatere opplysninger i NIR for 2023 er 29.02.2024" in brev
    assert "28 deltakelser uten registrerte tiltak" in brev  # 200 - 172 on 24.01
    assert "0 avsluttede deltakelser uten avslutningsårsak" in brev
    assert "personlisten i NIR" in brev
    text = (out / "paaminnelser_2023.csv").read_bytes().decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert header == ["Kommune", "Prognosert à jour", "Frist", "Påminnelse"]
    assert [r[0] for r in rows] == ["4601 Bergen"]
    assert "28 deltakelser uten registrerte tiltak" in rows[0][3]


def test_the_tracker_csv_opens_in_a_norwegian_spreadsheet(sporing):
    _, out = sporing
    text = (out / "sporing_2023.csv").read_bytes().decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    col = {name: i for i, name in enumerate(header)}
    oslo = next(
        r
        for r in rows
        if r[col["Kommune"]] == "0301 Oslo" and r[col["Kontroll"]] == "MANGLER_VEDTAK"
    )
    assert float(oslo[col["Andel uten funn (%)"]].replace(",", ".")) == 100.0
    assert float(oslo[col["Endring siden første uttrekk (prosentpoeng)"]].replace(",", ".")) == 8.0
    assert oslo[col["Status"]] == "i rute"
    assert oslo[col["Frist"]] == "29.02.2024"
    assert oslo[col["Kontrollnavn"]] == "Mangler vedtak"
    assert {r[col["Kommune"]] for r in rows} == {"Norge", "0301 Oslo", "4601 Bergen", "4602 Kinn"}


def test_the_tracker_has_every_window_snapshot_and_only_those(sporing):
    _, out = sporing
    html = (out / "sporing_2023.html").read_text("utf-8")
    assert "4 uttrekk i retteperioden" in html
    assert "01.12.2023" not in html
    assert html.count("<svg") == 1 + 3  # the national chart and one per kommune


def test_tracker_files_are_owner_only(sporing):
    _, out = sporing
    for path in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_cli_tracker(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nir.cli import app

    settings = load_settings(data_dir=tmp_path / "data")
    monkeypatch.setenv("NIR_DATA_DIR", str(tmp_path / "data"))
    empty = CliRunner().invoke(app, ["tracker"])
    assert empty.exit_code == 1 and "no completeness series yet" in empty.output
    _write_series(settings, _series())
    result = CliRunner().invoke(app, ["tracker"])
    assert result.exit_code == 0, result.output
    assert "tracker 2023 (4 snapshots in the window)" in result.output
    assert (settings.kontroll_dir / "sporing" / "2023" / "sporing_2023.html").exists()


# --- the demo's deliveries: nights before the deadline, kommuner catching up ----------------
def _missing_reasons(folder) -> int:
    """Ended spells without avslutningsaarsak in a delivery's deltakelser.csv."""
    import json

    enc = json.loads((folder / "manifest.json").read_text("utf-8"))["encoding"]
    raw = (folder / "deltakelser.csv").read_bytes()
    text = raw.decode("cp1252" if enc == "windows-1252" else "utf-8-sig")
    header, *lines = text.splitlines()
    cols = header.split(";")
    slutt, aarsak = cols.index("sluttdato"), cols.index("avslutningsaarsak")
    rows = [line.split(";") for line in lines]
    return sum(1 for r in rows if r[slutt] and not r[aarsak])


def test_demo_nights_fall_before_the_deadline_and_kommuner_catch_up(tmp_path):
    from nir.tools.generate import correction_nights, delivery_plan, generate

    nights = correction_nights("2023-10", "2024-03")
    assert nights[0] == date(2024, 1, 10) and nights[-1] == date(2024, 2, 28)
    assert len(nights) == 8 and all(d.day != 1 for d in nights)
    plan = delivery_plan("2023-10", "2024-03", daily=nights)
    assert [d.snapshot_date for d in plan] == sorted(d.snapshot_date for d in plan)
    kw = {"persons": 1500, "start": "2023-10", "end": "2024-03", "seed": 4, "daily": nights}
    base = {p.name: p for p in generate(tmp_path / "a", correction=0.0, **kw)}
    fixing = {p.name: p for p in generate(tmp_path / "b", correction=0.1, **kw)}
    first, last = nights[0].isoformat(), nights[-1].isoformat()
    backlog_first = _missing_reasons(fixing[first]) - _missing_reasons(base[first])
    backlog_last = _missing_reasons(fixing[last]) - _missing_reasons(base[last])
    assert backlog_first > backlog_last >= 0  # catching up over the window
    assert backlog_first > 5
    # after the window nothing is left behind: the last delivery has the same gaps
    assert _missing_reasons(fixing["2024-04-01"]) == _missing_reasons(base["2024-04-01"])
    # deterministic
    again = generate(tmp_path / "c", correction=0.1, **kw)
    assert all(
        (p / f).read_bytes() == (fixing[p.name] / f).read_bytes()
        for p in again
        for f in ("deltakelser.csv", "tiltak.csv")
    )


def test_the_demo_runs_every_night_in_date_order_before_the_annual_run(tmp_path):
    from nir.orchestration.embedded import demo_requests
    from nir.tools.generate import correction_nights, delivery_plan

    settings = load_settings(data_dir=tmp_path / "data")
    nights = correction_nights("2023-01", "2024-03")
    plan = delivery_plan("2023-01", "2024-03", daily=nights)
    monthly = [d.snapshot_date for d in plan if d.kind == "monthly"]
    requests = demo_requests(settings, monthly, nights)
    assert [r.dag_id for r in requests].count("nir_nightly") == len(nights) == 8
    assert requests[-1].dag_id == "nir_annual"
    dated = [r.logical_date for r in requests[:-1]]
    assert dated == sorted(dated)
    window = [r.label for r in requests if r.dag_id == "nir_nightly"]
    assert window == [str(d) for d in nights]


def test_a_count_of_one_takes_the_singular() -> None:
    from nir.kommune.tracker import antall

    assert antall(1, "avsluttet deltakelse", "avsluttede deltakelser") == "1 avsluttet deltakelse"
    assert antall(0, "deltakelse", "deltakelser") == "0 deltakelser"
    assert antall(2, "deltaker", "deltakere") == "2 deltakere"
