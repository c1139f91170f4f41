"""Control lists: restricted database, and per kommune a safe CSV and an escaped HTML page."""

from __future__ import annotations

import csv
import io
import stat
from datetime import date

import duckdb
import pytest
from test_gate_fixtures import make_snapshot

from nir.config import load_settings
from nir.kommune.controllists import neutralise, reference_year, write_control_lists

SNAP = date(2024, 2, 1)


@pytest.fixture
def lists(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data")
    make_snapshot(settings, SNAP)
    return settings, write_control_lists(settings, SNAP)


def _csv_rows(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads it as UTF-8
    text = raw[3:].decode("utf-8")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def test_each_kommune_gets_only_its_own_persons(lists):
    _, out = lists
    assert out.name == "2024-02-01"
    assert sorted(p.name for p in out.iterdir()) == ["0301", "4601", "4602"]
    oslo = _csv_rows(out / "0301" / "kontrolliste_0301_2024-02-01.csv")
    assert {r["programkommune"] for r in oslo} == {"0301"}
    assert sorted(r["nir_lopenr"] for r in oslo) == ["1000", "1003", "1006"]
    bergen = _csv_rows(out / "4601" / "kontrolliste_4601_2024-02-01.csv")
    assert [r["nir_lopenr"] for r in bergen] == ["1001"]
    html = (out / "4601" / "kontrolliste_4601_2024-02-01.html").read_text("utf-8")
    assert "1001" in html and "1000" not in html and "1003" not in html


def test_csv_is_semicolon_separated_and_formula_injection_is_neutralised(lists):
    _, out = lists
    header = (out / "0301" / "kontrolliste_0301_2024-02-01.csv").read_bytes().split(b"\r\n")[0]
    assert (
        header == b"\xef\xbb\xbfprogramkommune;nir_lopenr;deltakelse_id;kontroll;"
        b"alvorlighet;detalj;snapshot_date"
    )
    rows = _csv_rows(out / "0301" / "kontrolliste_0301_2024-02-01.csv")
    oslo = {r["nir_lopenr"]: r for r in rows}
    assert oslo["1000"]["detalj"] == '\'=HYPERLINK("http://x")'
    assert oslo["1006"]["detalj"] == "'+registrert 3 mnd for sent"
    assert oslo["1000"]["snapshot_date"] == "01.02.2024"
    bergen = _csv_rows(out / "4601" / "kontrolliste_4601_2024-02-01.csv")
    assert bergen[0]["detalj"] == "'@SUM(A1) & Æøå"
    kinn = _csv_rows(out / "4602" / "kontrolliste_4602_2024-02-01.csv")
    assert kinn[0]["detalj"] == "'-fnr feiler kontrollsiffer"
    assert kinn[0]["deltakelse_id"] == ""


def test_neutralise_leaves_other_values_alone():
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("\t=1") == "'\t=1"
    assert neutralise("Mangler vedtak") == "Mangler vedtak"
    assert neutralise(-5) == -5


def test_html_is_escaped_grouped_and_names_the_deadline(lists):
    _, out = lists
    html = (out / "0301" / "kontrolliste_0301_2024-02-01.html").read_text("utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "29.02.2024" in html  # the deadline for 2023
    assert html.count('<h2 id="') == 3  # MANGLER_TILTAK, MANGLER_VEDTAK, SEN_REGISTRERING
    assert 'id="MANGLER_VEDTAK">MANGLER_VEDTAK (1)' in html


def test_files_are_owner_only_and_the_restricted_database_is_filled(lists):
    settings, out = lists
    for path in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    db = settings.kontroll_dir / "kontroll.duckdb"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "select programkommune, count(*) from kontroll.kontroll.kontrolliste "
        "where snapshot_date = ? group by 1 order by 1",
        [SNAP],
    ).fetchall()
    con.close()
    assert rows == [("0301", 3), ("4601", 1), ("4602", 1)]


def test_rerun_replaces_the_snapshot(lists):
    settings, out = lists
    again = write_control_lists(settings, SNAP)
    assert again == out
    con = duckdb.connect(str(settings.kontroll_dir / "kontroll.duckdb"), read_only=True)
    assert con.execute("select count(*) from kontroll.kontroll.kontrolliste").fetchone()[0] == 5
    con.close()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_reference_year_follows_the_deadline(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data")
    assert reference_year(settings, date(2024, 2, 29)) == 2023
    assert reference_year(settings, date(2024, 3, 1)) == 2024


def test_cli_control_lists_and_status(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nir.cli import app

    settings = load_settings(data_dir=tmp_path / "data")
    make_snapshot(settings, SNAP)
    monkeypatch.setenv("NIR_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["control-lists", "2024-02-01"])
    assert result.exit_code == 0, result.output
    assert "control lists in" in result.output
    status = CliRunner().invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert "Published: nothing yet" in status.output
    assert "Last gate results: none" in status.output
