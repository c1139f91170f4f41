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
from nir.kommune.controllists import write_control_lists
from nir.kommune.output import neutralise, reference_year

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
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["0301", "4601", "4602"]
    oslo = _csv_rows(out / "0301" / "kontrolliste_0301_2024-02-01.csv")
    assert {r["Kommune"] for r in oslo} == {"0301 Oslo"}
    assert sorted(r["NIR-løpenummer"] for r in oslo) == ["1000", "1003", "1006"]
    bergen = _csv_rows(out / "4601" / "kontrolliste_4601_2024-02-01.csv")
    assert [r["NIR-løpenummer"] for r in bergen] == ["1001"]
    html = (out / "4601" / "kommunepakke_4601_2024-02-01.html").read_text("utf-8")
    assert "1001" in html and "1000" not in html and "1003" not in html


def test_csv_is_semicolon_separated_and_formula_injection_is_neutralised(lists):
    _, out = lists
    header = (out / "0301" / "kontrolliste_0301_2024-02-01.csv").read_bytes().split(b"\r\n")[0]
    assert header == (
        "\ufeffKommune;NIR-løpenummer;Deltakelse-ID;Kontroll;Kontrollnavn;Alvorlighet;Status;"
        "Detalj;Hvor i NIR;Hva skal gjøres;Frist;Uttrekk"
    ).encode("utf-8")
    rows = _csv_rows(out / "0301" / "kontrolliste_0301_2024-02-01.csv")
    oslo = {r["NIR-løpenummer"]: r for r in rows}
    assert oslo["1000"]["Detalj"] == '\'=HYPERLINK("http://x")'
    assert oslo["1006"]["Detalj"] == "'+registrert 3 mnd for sent"
    assert oslo["1000"]["Uttrekk"] == "01.02.2024"
    assert oslo["1000"]["Frist"] == "29.02.2024"
    bergen = _csv_rows(out / "4601" / "kontrolliste_4601_2024-02-01.csv")
    assert bergen[0]["Detalj"] == "'@SUM(A1) & Æøå"
    kinn = _csv_rows(out / "4602" / "kontrolliste_4602_2024-02-01.csv")
    assert kinn[0]["Detalj"] == "'-fnr feiler kontrollsiffer"
    assert kinn[0]["Deltakelse-ID"] == ""


def test_csv_speaks_norwegian_and_keeps_the_leading_zero(lists):
    """Opened as a Norwegian spreadsheet does (``;``, decimal comma), the kommune stays text
    with its leading zero, the control has its name, severity is feil/varsel, and the file
    says where in NIR to fix each finding and by when."""
    _, out = lists
    text = (out / "0301" / "kontrolliste_0301_2024-02-01.csv").read_bytes().decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    col = {name: i for i, name in enumerate(header)}
    assert {r[col["Kommune"]] for r in rows} == {"0301 Oslo"}
    vedtak = next(r for r in rows if r[col["Kontroll"]] == "MANGLER_VEDTAK")
    assert vedtak[col["Kontrollnavn"]] == "Mangler vedtak"
    assert vedtak[col["Alvorlighet"]] == "feil"
    assert vedtak[col["Hvor i NIR"]].startswith("Personliste")
    assert {r[col["Alvorlighet"]] for r in rows} == {"feil", "varsel"}
    # figures: decimal comma, parsed the Norwegian way
    tiltak = (out / "0301" / "tiltak_0301_2023_2024-02-01.csv").read_bytes().decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(tiltak, newline=""), delimiter=";"))
    assert header[:3] == ["Kommune", "År", "Tiltak"]
    assert {r[0] for r in rows} == {"0301 Oslo"}
    assert {r[2] for r in rows} == {"Norskopplæring", "Samfunnskunnskap"}
    assert all(float(r[5].replace(",", ".")) == 100.0 for r in rows)
    res = (out / "0301" / "resultater_0301_2023_2024-02-01.csv").read_bytes().decode("utf-8-sig")
    header, row = list(csv.reader(io.StringIO(res, newline=""), delimiter=";"))
    r = dict(zip(header, row, strict=True))
    lav = float(r["Andel direkte overgang (%)"].replace(",", "."))
    hoy = float(r["Høyeste mulige andel (%)"].replace(",", "."))
    n, ir = int(r["Avsluttede"]), int(r["Avslutningsårsak ikke registrert"])
    assert lav == round(100 * int(r["Direkte overgang"]) / n, 1)
    assert hoy == round(100 * (int(r["Direkte overgang"]) + ir) / n, 1) > lav


def test_neutralise_leaves_other_values_alone():
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("\t=1") == "'\t=1"
    assert neutralise("Mangler vedtak") == "Mangler vedtak"
    assert neutralise(-5) == -5


def test_html_is_escaped_norwegian_and_names_the_deadline(lists):
    _, out = lists
    html = (out / "0301" / "kommunepakke_0301_2024-02-01.html").read_text("utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "29.02.2024" in html  # the deadline for 2023
    assert "Mangler vedtak" in html and "MANGLER_VEDTAK" not in html
    assert ">feil<" in html and ">varsel<" in html
    assert ">error<" not in html and ">warning<" not in html
    assert "Personliste → filter «uten vedtak»" in html
    assert "Norskopplæring" in html  # its tiltak last year
    assert "ikke registrert" in html  # the results' range


def test_pack_shows_the_results_range_of_the_ikke_registrert_endings(lists):
    settings, out = lists
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    n, d, ir = con.execute(
        "select avsluttede, direkte_overgang, ikke_registrert from marts.fct_resultater_aar "
        "where snapshot_date = ? and aar = 2023 and nivaa = 'kommune' and region = '4601' "
        "and kjonn = 'alle' and landbakgrunn_gruppe = 'alle'",
        [SNAP],
    ).fetchone()
    con.close()
    html = (out / "4601" / "kommunepakke_4601_2024-02-01.html").read_text("utf-8")
    lav = f"{100 * d / n:.1f} %".replace(".", ",")
    hoy = f"{100 * (d + ir) / n:.1f} %".replace(".", ",")
    assert f"mellom <strong>{lav}</strong>" in html
    assert f"og <strong>{hoy}</strong>" in html


def test_index_links_every_pack(lists):
    _, out = lists
    html = (out / "index.html").read_text("utf-8")
    for k in ("0301", "4601", "4602"):
        assert f'href="{k}/kommunepakke_{k}_2024-02-01.html"' in html
    assert "0301 Oslo" in html and "4602 Kinn" in html


def test_a_finding_fixed_between_two_snapshots_is_listed_as_fixed(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data")
    a, b = date(2024, 1, 10), date(2024, 1, 17)
    make_snapshot(settings, a, kind="daily")
    write_control_lists(settings, a)
    make_snapshot(settings, b, kind="daily")
    con = duckdb.connect(str(settings.warehouse))
    # 1003's missing tiltak is registered; 1000 (still without vedtak) stays
    con.execute("delete from marts.kontrolliste where snapshot_date = ? and nir_lopenr = 1003", [b])
    con.close()
    out = write_control_lists(settings, b)
    rows = _csv_rows(out / "0301" / "kontrolliste_0301_2024-01-17.csv")
    status = {(r["NIR-løpenummer"], r["Kontroll"]): r["Status"] for r in rows}
    assert status == {
        ("1000", "MANGLER_VEDTAK"): "fortsatt åpen",
        ("1003", "MANGLER_TILTAK"): "rettet",
        ("1006", "SEN_REGISTRERING"): "fortsatt åpen",
    }
    html = (out / "0301" / "kommunepakke_0301_2024-01-17.html").read_text("utf-8")
    rettet = html[html.index('id="rettet"') :]
    assert "Mangler tiltak" in rettet and "1003" in rettet
    assert "1000" not in rettet
    # the first list had nothing to compare with: everything was new
    first = _csv_rows(settings.kontroll_dir / "lister" / "2024-01-10" / "0301"
                      / "kontrolliste_0301_2024-01-10.csv")  # fmt: skip
    assert {r["Status"] for r in first} == {"ny"}


def test_completeness_is_kept_for_every_snapshot(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data")
    snaps = [date(2024, 1, 1), date(2024, 1, 10), date(2024, 2, 1)]
    for s in snaps[:2]:
        make_snapshot(settings, s)  # the first list run finds two snapshots in the marts
    write_control_lists(settings, snaps[1])
    make_snapshot(settings, snaps[2])
    write_control_lists(settings, snaps[2])
    write_control_lists(settings, snaps[2])  # a rerun replaces, never duplicates
    con = duckdb.connect(str(settings.kontroll_dir / "kontroll.duckdb"), read_only=True)
    rows = con.execute(
        "select snapshot_date, count(*) from kontroll.kontroll.registreringskvalitet "
        "where nivaa = 'kommune' group by 1 order by 1"
    ).fetchall()
    con.close()
    assert rows == [(s, 6) for s in snaps]  # 3 kommuner x 2 controls, per snapshot


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


def test_pack_files_written_on_threads_are_all_written_and_a_failure_is_raised(tmp_path):
    """write_packs renders while PrivateFiles writes on threads: every file ends up whole and
    owner-only, and a write that fails (here: its folder is missing) is raised when the block
    ends, after the others were written, so a snapshot's folder is never published short."""
    from nir.kommune.output import PrivateFiles

    with pytest.raises(FileNotFoundError), PrivateFiles(threads=2) as files:
        for i in range(20):
            with files.text(tmp_path / f"f{i}.csv", "utf-8-sig") as f:
                f.write(f"a;b\r\n{i};æ\r\n")
        with files.text(tmp_path / "missing" / "x.csv", "utf-8") as f:
            f.write("x")
    for i in range(20):
        path = tmp_path / f"f{i}.csv"
        assert path.read_bytes() == f"\ufeffa;b\r\n{i};æ\r\n".encode()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
