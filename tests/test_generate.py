"""The synthetic export generator: contract, determinism, revisions, kommuner, defects.

The deliveries are read back with a small parser written here, independent of the
generator (and of ``nir.delivery.check``, which is also run when it is there).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from stdnum.no import fodselsnummer as fnr_check

from nir.contracts import kommuner
from nir.contracts import nir_export as spec
from nir.tools.generate import DefectRates, delivery_plan, generate

OSLO = ZoneInfo("Europe/Oslo")
DIREKTE = {c for c, a in spec.AVSLUTNINGSAARSAKER.items() if a.direkte_overgang}


# --- an independent reader -------------------------------------------------------------------
@dataclass
class Read:
    folder: Path
    manifest: dict
    raw: dict[str, bytes]
    bom: bool
    crlf: bool
    rows: dict[str, list[dict[str, str]]]

    @property
    def snapshot(self) -> date:
        return date.fromisoformat(self.folder.name)

    @property
    def extracted(self) -> datetime:
        return datetime.fromisoformat(self.manifest["extracted_at"])


def read_delivery(folder: Path) -> Read:
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    codec = {"utf-8": "utf-8", "windows-1252": "cp1252"}[manifest["encoding"]]
    raw, rows, boms, crlfs = {}, {}, set(), set()
    for fspec in spec.FILES:
        data = (folder / fspec.name).read_bytes()
        raw[fspec.name] = data
        bom = data.startswith(b"\xef\xbb\xbf")
        boms.add(bom)
        text = data[3:].decode(codec) if bom else data.decode(codec)
        crlf = "\r\n" in text
        assert not crlf or text.count("\n") == text.count("\r\n"), "mixed line ends"
        crlfs.add(crlf)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"')
        header, *body = list(reader)
        assert header == fspec.header, fspec.name
        rows[fspec.name] = [dict(zip(header, r, strict=True)) for r in body]
    assert len(boms) == 1 and len(crlfs) == 1, "one dialect per delivery"
    return Read(folder, manifest, raw, boms.pop(), crlfs.pop(), rows)


def d(value: str) -> date:
    return datetime.strptime(value, "%d.%m.%Y").date()


def ts(value: str) -> datetime:
    return datetime.strptime(value, "%d.%m.%Y %H:%M:%S")


def add_months(day: date, months: int) -> date:
    m = day.month - 1 + months
    y, m = day.year + m // 12, m % 12 + 1
    for dd in (day.day, 30, 29, 28):
        try:
            return date(y, m, dd)
        except ValueError:
            continue
    raise AssertionError


VALUE = {
    spec.ColType.INTEGER: re.compile(r"^-?\d+$"),
    spec.ColType.FNR: re.compile(r"^\d{11}$"),
    spec.ColType.KOMMUNE: re.compile(r"^\d{4}$"),
    spec.ColType.DECIMAL: re.compile(r"^\d+,\d$"),
    spec.ColType.BOOLEAN: re.compile(r"^[JN]$"),
    spec.ColType.TEXT: re.compile(r"^[A-Z]{3}$"),
}


def check_values(read: Read) -> None:
    for fspec in spec.FILES:
        for row in read.rows[fspec.name]:
            for col in fspec.columns:
                v = row[col.name]
                if v == "":
                    assert not col.required, (fspec.name, col.name)
                elif col.type is spec.ColType.DATE:
                    d(v)
                elif col.type is spec.ColType.TIMESTAMP:
                    ts(v)
                elif col.type is spec.ColType.CODE:
                    assert v in col.codes, (fspec.name, col.name, v)
                else:
                    assert VALUE[col.type].match(v), (fspec.name, col.name, v)


# --- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> list[Read]:
    """800 persons, periods 2023-09..2024-02 (6 monthly deliveries) and 2 daily ones."""
    out = tmp_path_factory.mktemp("landing")
    folders = generate(out, persons=800, start="2023-09", end="2024-02", seed=3, daily=2)
    return [read_delivery(f) for f in folders]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Read:
    """Without defects: the last delivery of 1200 persons over 2023-06..2024-03."""
    out = tmp_path_factory.mktemp("clean")
    folders = generate(
        out, persons=1200, start="2023-06", end="2024-03", seed=5, daily=0,
        defects=DefectRates.none(),
    )  # fmt: skip
    return read_delivery(folders[-1])


# --- deliveries and manifests ----------------------------------------------------------------
def test_folders_kinds_and_dates(run: list[Read]) -> None:
    names = [r.folder.name for r in run]
    assert names == [
        "2023-10-01", "2023-11-01", "2023-12-01", "2024-01-01", "2024-02-01", "2024-03-01",
        "2024-03-02", "2024-03-03",
    ]  # fmt: skip
    assert [r.manifest["kind"] for r in run] == ["monthly"] * 6 + ["daily"] * 2


def test_manifest_matches_files(run: list[Read]) -> None:
    for r in run:
        m = r.manifest
        assert list(m) == [
            "contract_version", "kind", "snapshot_date", "extracted_at", "encoding", "files",
        ]  # fmt: skip
        assert m["contract_version"] == "1"
        assert m["snapshot_date"] == r.folder.name
        assert m["encoding"] in ("utf-8", "windows-1252")
        assert not (r.bom and m["encoding"] == "windows-1252")
        offset = r.extracted.utcoffset()
        assert offset == r.extracted.astimezone(OSLO).utcoffset()
        assert m["extracted_at"][-6:] in ("+01:00", "+02:00")
        assert r.extracted.date() == r.snapshot
        assert set(m["files"]) == {f.name for f in spec.FILES}
        for name, info in m["files"].items():
            assert info["rows"] == len(r.rows[name])
            assert info["sha256"] == hashlib.sha256(r.raw[name]).hexdigest()
        assert not list(r.folder.glob(".*")), "no temporary files left behind"
    # winter and summer time both appear in the offsets of a longer run
    plan = delivery_plan("2024-01", "2024-06", daily=0)
    assert {p.extracted_at.isoformat()[-6:] for p in plan} == {"+01:00", "+02:00"}


def test_values_follow_the_contract(run: list[Read]) -> None:
    for r in run:
        check_values(r)


def test_check_delivery_accepts_every_delivery(run: list[Read]) -> None:
    contract = pytest.importorskip("nir.delivery.check")
    for r in run:
        assert contract.check_delivery(r.folder) == [], r.folder.name


def test_encodings_bom_and_line_ends_vary(run: list[Read]) -> None:
    assert any(r.manifest["encoding"] == "windows-1252" for r in run)
    assert any(r.bom for r in run)
    assert any(r.crlf for r in run)
    assert any(not r.crlf for r in run)
    assert any(r.manifest["encoding"] == "utf-8" and not r.bom for r in run)


def test_windows_1252_can_carry_norwegian_letters() -> None:
    # the contract has no free-text column today, but the codec must round-trip æøå
    assert "Bærum Ålesund Tromsø".encode("cp1252").decode("cp1252") == "Bærum Ålesund Tromsø"


def test_keys_unique_and_references_hold(run: list[Read]) -> None:
    for r in run:
        persons = {p["nir_lopenr"] for p in r.rows["personer.csv"]}
        spells = {s["deltakelse_id"]: s for s in r.rows["deltakelser.csv"]}
        assert len(persons) == len(r.rows["personer.csv"])
        assert len(spells) == len(r.rows["deltakelser.csv"])
        for name, key in (("vedtak.csv", "vedtak_id"), ("tiltak.csv", "tiltak_id")):
            assert len({x[key] for x in r.rows[name]}) == len(r.rows[name])
        assert {s["nir_lopenr"] for s in spells.values()} <= persons
        assert {v["nir_lopenr"] for v in r.rows["vedtak.csv"]} <= persons
        for t in r.rows["tiltak.csv"]:
            assert spells[t["deltakelse_id"]]["nir_lopenr"] == t["nir_lopenr"]


# --- determinism -----------------------------------------------------------------------------
def _bytes(folders: list[Path]) -> dict[str, bytes]:
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for f in folders for p in f.iterdir()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    kw = {"persons": 300, "start": "2023-11", "end": "2024-01", "daily": 1}
    a = _bytes(generate(tmp_path / "a", seed=11, **kw))
    b = _bytes(generate(tmp_path / "b", seed=11, **kw))
    c = _bytes(generate(tmp_path / "c", seed=12, **kw))
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a if k.endswith(".csv"))


def test_regenerating_replaces_the_manifest_last(tmp_path: Path) -> None:
    kw = {"persons": 200, "start": "2024-01", "end": "2024-01", "daily": 0}
    first = generate(tmp_path, seed=1, **kw)[0]
    (first / "personer.csv").write_text("garbage")
    generate(tmp_path, seed=1, **kw)
    m = json.loads((first / "manifest.json").read_text())
    data = (first / "personer.csv").read_bytes()
    assert m["files"]["personer.csv"]["sha256"] == hashlib.sha256(data).hexdigest()


# --- the register as it stood ------------------------------------------------------------------
def test_rows_registered_before_extraction_and_never_deleted(run: list[Read]) -> None:
    previous: dict[str, set[str]] = {}
    for r in run:
        extracted = r.extracted.replace(tzinfo=None)
        for fspec in spec.FILES:
            keys = {row[fspec.key] for row in r.rows[fspec.name]}
            assert previous.get(fspec.name, set()) <= keys, (r.folder.name, fspec.name)
            previous[fspec.name] = keys
        for fspec in spec.FILES[1:]:
            assert all(ts(x["registrert_tid"]) <= extracted for x in r.rows[fspec.name])
        for s in r.rows["deltakelser.csv"]:
            ended = s["avslutning_registrert_tid"] != ""
            assert ended == (s["sluttdato"] != "")
            if ended:
                assert ts(s["avslutning_registrert_tid"]) <= extracted
                assert d(s["sluttdato"]) >= d(s["startdato"])
            else:
                assert s["avslutningsaarsak"] == "" and s["avsluttet_av_system"] == "N"
            if s["avsluttet_av_system"] == "J":
                assert s["avslutningsaarsak"] == ""
        assert all(ts(p["endret_tid"]) <= extracted for p in r.rows["personer.csv"])


def test_snapshots_revise_each_other(run: list[Read]) -> None:
    late_filled, corrected, ended_later = 0, 0, 0
    for early, late in pairwise(run):
        before = {s["deltakelse_id"]: s for s in early.rows["deltakelser.csv"]}
        for s in late.rows["deltakelser.csv"]:
            old = before.get(s["deltakelse_id"])
            if old is None:
                continue
            if old["sluttdato"] == "" and s["sluttdato"] != "":
                ended_later += 1
            if old["sluttdato"] and old["avslutningsaarsak"] == "" and s["avslutningsaarsak"]:
                late_filled += 1
            if old["avslutningsaarsak"] and s["avslutningsaarsak"] != old["avslutningsaarsak"]:
                corrected += 1
    assert ended_later > 0
    assert late_filled > 0
    assert corrected > 0


def test_ids_stable_across_snapshots(run: list[Read]) -> None:
    first = {p["nir_lopenr"]: p for p in run[0].rows["personer.csv"]}
    for p in run[-1].rows["personer.csv"]:
        if p["nir_lopenr"] in first:
            old = first[p["nir_lopenr"]]
            assert (p["fodselsnummer"], p["fodselsdato"], p["kjonn"]) == (
                old["fodselsnummer"], old["fodselsdato"], old["kjonn"],
            )  # fmt: skip
    spells = {s["deltakelse_id"]: s for s in run[0].rows["deltakelser.csv"]}
    for s in run[-1].rows["deltakelser.csv"]:
        if s["deltakelse_id"] in spells:
            assert s["startdato"] == spells[s["deltakelse_id"]]["startdato"]
            assert s["nir_lopenr"] == spells[s["deltakelse_id"]]["nir_lopenr"]


# --- identity numbers ------------------------------------------------------------------------
def test_fodselsnummer_valid_and_consistent(clean: Read) -> None:
    persons = clean.rows["personer.csv"]
    assert all(fnr_check.is_valid(p["fodselsnummer"]) for p in persons)
    for p in persons:
        assert fnr_check.get_birth_date(p["fodselsnummer"]) == d(p["fodselsdato"])
        gender = fnr_check.get_gender(p["fodselsnummer"])
        assert gender == {"K": "F", "M": "M"}[p["kjonn"]]
    d_nummer = sum(int(p["fodselsnummer"][0]) >= 4 for p in persons) / len(persons)
    assert 0.05 < d_nummer < 0.15
    assert len({p["fodselsnummer"] for p in persons}) == len(persons)


# --- kommune numbers -------------------------------------------------------------------------
def _kommune_events(r: Read) -> list[tuple[str, str, date]]:
    out = [
        (s["programkommune"], "deltakelser", d(s["startdato"])) for s in r.rows["deltakelser.csv"]
    ]
    out += [
        (p["bosatt_kommune"], "personer", d(p["bosettingsdato"])) for p in r.rows["personer.csv"]
    ]
    out += [(v["kommune"], "vedtak", d(v["vedtaksdato"])) for v in r.rows["vedtak.csv"]]
    out += [(t["kommune"], "tiltak", d(t["fra_dato"])) for t in r.rows["tiltak.csv"]]
    return out


def test_kommune_codes_valid_on_event_dates(clean: Read) -> None:
    bad = [e for e in _kommune_events(clean) if not kommuner.is_valid(e[0], e[2])]
    assert bad == []


def test_kommune_reform_cases_present(tmp_path: Path) -> None:
    folders = generate(
        tmp_path, persons=1500, start="2023-06", end="2024-06", seed=2, daily=0,
        defects=DefectRates.none(),
    )  # fmt: skip
    r = read_delivery(folders[-1])
    seen = {
        (s["programkommune"], d(s["startdato"]).year >= 2024) for s in r.rows["deltakelser.csv"]
    }
    assert ("3024", False) in seen and ("3201", True) in seen  # Bærum
    assert ("3201", False) not in seen and ("3024", True) not in seen
    assert ("1507", False) in seen  # Ålesund before the split
    assert ("1508", True) in seen or ("1580", True) in seen
    assert ("1507", True) not in seen
    codes = {s["programkommune"] for s in r.rows["deltakelser.csv"]}
    assert len(codes) > 150  # most kommuner get someone


# --- realism ---------------------------------------------------------------------------------
def test_population_mix(clean: Read) -> None:
    persons = {p["nir_lopenr"]: p for p in clean.rows["personer.csv"]}
    spells = clean.rows["deltakelser.csv"]
    new_2023 = {s["nir_lopenr"] for s in spells if d(s["startdato"]).year == 2023}
    ukr = sum(persons[n]["landbakgrunn"] == "UKR" for n in new_2023) / len(new_2023)
    assert 0.55 < ukr < 0.85
    women = sum(p["kjonn"] == "K" for p in persons.values()) / len(persons)
    assert 0.5 < women < 0.62
    for p in persons.values():
        if p["landbakgrunn"] == "UKR" and p["kategori"] == "RETT":
            assert p["regelverk"] == "INTEGRL"
    ended = [s for s in spells if s["sluttdato"]]
    # programme endings (a move is a transfer) registered more than two months ago
    settled = [
        s
        for s in ended
        if s["avslutningsaarsak"] != "FLYTTET"
        and d(s["sluttdato"]) < clean.snapshot - timedelta(days=60)
    ]
    direkte = sum(s["avslutningsaarsak"] in DIREKTE for s in settled) / len(settled)
    assert 0.42 < direkte < 0.62
    assert any(s["avsluttet_av_system"] == "J" for s in ended)
    assert any(s["avslutningsaarsak"] == "FLYTTET" for s in ended)
    for s in spells:
        if persons[s["nir_lopenr"]]["regelverk"] == "INTROL":
            assert s["sluttmaal"] == ""
        else:
            assert s["sluttmaal"] != ""
    ages = Counter(
        (date(2023, 12, 31) - d(persons[n]["fodselsdato"])).days // 365 >= 56 for n in new_2023
    )
    assert 0 < ages[True] < 0.1 * len(new_2023)
    assert any(p["skjermet"] == "J" for p in persons.values()) or len(persons) < 2000
    codes = Counter(t["tiltakskode"] for t in clean.rows["tiltak.csv"])
    assert codes.most_common(1)[0][0] == "NORSK" and len(codes) >= 10


def test_moves_chain_within_90_days_to_another_kommune(clean: Read) -> None:
    by_person: dict[str, list[dict[str, str]]] = {}
    for s in clean.rows["deltakelser.csv"]:
        by_person.setdefault(s["nir_lopenr"], []).append(s)
    chained = restarted = 0
    for spells in by_person.values():
        spells.sort(key=lambda s: d(s["startdato"]))
        for a, b in pairwise(spells):
            gap = (d(b["startdato"]) - d(a["sluttdato"])).days
            if a["avslutningsaarsak"] == "FLYTTET":
                assert 0 < gap <= 90
                assert kommuner.successors(a["programkommune"]) != kommuner.successors(
                    b["programkommune"]
                )
                chained += 1
            elif a["avslutningsaarsak"]:  # (empty: the reason may be a missing FLYTTET)
                assert gap > 90
                restarted += 1
    assert chained > 0 and restarted > 0


def test_every_spell_has_vedtak_and_tiltak_without_defects(clean: Read) -> None:
    for name, count in _measure(clean, settled_days=60).items():
        assert count == 0, name


# --- defects ---------------------------------------------------------------------------------
def _measure(r: Read, settled_days: int = 0) -> dict[str, int]:
    """Count each defect in one delivery, the way the registration controls define them.

    A missing avslutningsaarsak counts only when the end was registered more than
    ``settled_days`` before the snapshot (some reasons are, truthfully, registered late).
    """
    snap = r.snapshot
    persons = {p["nir_lopenr"]: p for p in r.rows["personer.csv"]}
    spells = {s["deltakelse_id"]: s for s in r.rows["deltakelser.csv"]}
    tildeling: dict[tuple[str, str], list[date]] = {}
    for v in r.rows["vedtak.csv"]:
        if (v["ordning"], v["vedtakstype"]) == ("INTRO", "TILDELING"):
            tildeling.setdefault((v["nir_lopenr"], v["kommune"]), []).append(d(v["vedtaksdato"]))
    with_tiltak = {t["deltakelse_id"] for t in r.rows["tiltak.csv"]}
    n: Counter[str] = Counter()
    for sid, s in spells.items():
        start = d(s["startdato"])
        end = d(s["sluttdato"]) if s["sluttdato"] else None
        valid_kommune = kommuner.is_valid(s["programkommune"], start)
        n["ukjent_kommune"] += not valid_kommune
        if (
            end
            and s["avsluttet_av_system"] == "N"
            and s["avslutningsaarsak"] == ""
            and ts(s["avslutning_registrert_tid"]).date() < snap - timedelta(days=settled_days)
        ):
            n["mangler_avslutningsaarsak"] += 1
        if valid_kommune and not any(
            v <= start for v in tildeling.get((s["nir_lopenr"], s["programkommune"]), [])
        ):
            n["mangler_vedtak"] += 1
        if (min(end or snap, snap) - start).days > 30 and sid not in with_tiltak:
            n["mangler_tiltak"] += 1
        if persons[s["nir_lopenr"]]["regelverk"] == "INTEGRL" and s["sluttmaal"] == "":
            n["mangler_sluttmaal"] += 1
        late = ts(s["registrert_tid"]).date() > add_months(start, 2)
        if end:
            late |= ts(s["avslutning_registrert_tid"]).date() > add_months(end, 2)
        n["sen_registrering"] += late
    for t in r.rows["tiltak.csv"]:
        s = spells[t["deltakelse_id"]]
        outside = d(t["fra_dato"]) < d(s["startdato"])
        if s["sluttdato"] and t["til_dato"]:
            outside |= d(t["til_dato"]) > d(s["sluttdato"])
        n["tiltak_utenfor_deltakelse"] += outside
    n["ugyldig_fodselsnummer"] = sum(
        not fnr_check.is_valid(p["fodselsnummer"]) for p in persons.values()
    )
    return {f.name: n[f.name] for f in fields(DefectRates)}


DENOMINATOR = {"ugyldig_fodselsnummer": "personer.csv", "tiltak_utenfor_deltakelse": "tiltak.csv"}


def test_defect_rates_asked_for_are_found(tmp_path: Path) -> None:
    rate = 0.10
    defects = DefectRates(**{name: rate for name in DefectRates.names()})
    folders = generate(
        tmp_path, persons=3000, start="2023-07", end="2024-03", seed=5, daily=0, defects=defects
    )
    r = read_delivery(folders[-1])
    found = _measure(r)
    for name, count in found.items():
        denominator = len(r.rows[DENOMINATOR.get(name, "deltakelser.csv")])
        if name == "mangler_vedtak":  # measured over spells with a valid kommune
            denominator = len(r.rows["deltakelser.csv"]) - found["ukjent_kommune"]
        # four standard errors of a binomial share, plus a little for reasons still to come
        tolerance = 4 * math.sqrt(rate * (1 - rate) / denominator) + 0.01
        assert abs(count / denominator - rate) < tolerance, (name, count / denominator)


def test_defect_rate_of_one_kind_only(tmp_path: Path) -> None:
    defects = DefectRates.none().with_overrides(["ugyldig_fodselsnummer=0.2"])
    folders = generate(
        tmp_path, persons=600, start="2024-01", end="2024-02", seed=9, daily=0, defects=defects
    )
    found = _measure(read_delivery(folders[-1]), settled_days=60)
    assert found.pop("ugyldig_fodselsnummer") > 0
    assert set(found.values()) == {0}


def test_default_defects_are_small_but_present(run: list[Read]) -> None:
    found = _measure(run[-1], settled_days=60)
    spells = len(run[-1].rows["deltakelser.csv"])
    assert sum(found.values()) > 0
    assert found["ukjent_kommune"] / spells < 0.05
    assert found["mangler_avslutningsaarsak"] / spells < 0.05


def test_defect_rates_parse_and_validate() -> None:
    rates = DefectRates().with_overrides(["ukjent_kommune=0,25", "mangler_vedtak=0"])
    assert rates.ukjent_kommune == 0.25 and rates.mangler_vedtak == 0.0
    assert all(0 < getattr(DefectRates(), n) <= 0.03 for n in DefectRates.names())
    with pytest.raises(ValueError, match="NAME=RATE"):
        DefectRates().with_overrides(["nonsense=0.1"])
    with pytest.raises(ValueError, match="between 0 and 1"):
        DefectRates(ukjent_kommune=1.5)


# --- CLI -------------------------------------------------------------------------------------
def test_cli_generate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nir.cli import app

    result = CliRunner().invoke(
        app,
        ["generate", "--out", str(tmp_path), "--persons", "150", "--from", "2024-01", "--to",
         "2024-02", "--daily", "1", "--defect", "ukjent_kommune=0.2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2024-02-01", "2024-03-01", "2024-03-02"]
    bad = CliRunner().invoke(app, ["generate", "--out", str(tmp_path), "--defect", "x=1"])
    assert bad.exit_code != 0
