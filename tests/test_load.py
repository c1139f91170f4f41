"""The raw load: happy path, idempotence, re-delivery, order, and every class of bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
import small_delivery

from nir.config import load_settings
from nir.contracts import nir_export as spec
from nir.delivery.check import check_delivery
from nir.delivery.load import load_delivery, read_load_log
from nir.delivery.manifest import refresh_manifest
from nir.errors import ContractError

SNAP = date(2024, 2, 1)


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings(data_dir=tmp_path / "data", pseudonym_key="k" * 32)


def dump(settings) -> dict[str, list]:
    """Every raw table's content, sorted, without load timestamps."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        out = {}
        for f in spec.FILES:
            out[f.table] = con.execute(f"select * from raw.{f.table} order by all").fetchall()
        out["leveranser"] = con.execute(
            "select snapshot_date, kind, fingerprint from raw.leveranser order by 1"
        ).fetchall()
        return out
    finally:
        con.close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_happy_path(settings):
    d = small_delivery.make(settings.landing)
    result = load_delivery(settings, d)
    assert result.outcome == "loaded"
    assert result.rows == {"personer": 3, "deltakelser": 3, "vedtak": 2, "tiltak": 2}
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    row = con.execute(
        "select startdato, sluttdato, avsluttet_av_system, registrert_tid "
        "from raw.deltakelser where deltakelse_id = 10"
    ).fetchone()
    assert str(row[0]) == "2023-01-02" and str(row[1]) == "2023-10-31" and row[2] is False
    assert str(row[3]) == "2023-01-05 10:00:00"
    hours = con.execute("select timer_per_uke from raw.tiltak order by tiltak_id").fetchall()
    assert [float(h[0]) for h in hours] == [15.0, 22.5]
    valid = con.execute("select nir_lopenr, fnr_gyldig from raw.personer order by 1").fetchall()
    assert valid == [(1, True), (2, True), (3, True)]
    cols = [c[0] for c in con.execute("describe raw.personer").fetchall()]
    assert "fodselsnummer" not in cols and "fnr_pseudonym" in cols
    con.close()
    log = read_load_log(settings)
    assert log[-1]["outcome"] == "loaded" and log[-1]["snapshot"] == "2024-02-01"
    assert set(log[-1]["files"]) == set(spec.FILES_BY_NAME)


def test_loading_twice_is_a_no_op(settings):
    d = small_delivery.make(settings.landing)
    load_delivery(settings, d)
    before = sha(settings.warehouse)
    again = load_delivery(settings, d)
    assert again.outcome == "unchanged"
    assert sha(settings.warehouse) == before
    assert [e["outcome"] for e in read_load_log(settings)] == ["loaded", "unchanged"]


def test_redelivery_replaces_the_snapshot(settings):
    load_delivery(settings, small_delivery.make(settings.landing, aarsak="ARBEID"))
    shutil.rmtree(settings.landing / SNAP.isoformat())
    result = load_delivery(settings, small_delivery.make(settings.landing, aarsak="VGO"))
    assert result.outcome == "replaced"
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    assert con.execute(
        "select avslutningsaarsak from raw.deltakelser where deltakelse_id = 10"
    ).fetchall() == [("VGO",)]
    assert con.execute("select count(*) from raw.deltakelser").fetchone() == (3,)
    con.close()


def test_out_of_order_loads_equal_in_order_loads(tmp_path):
    snaps = [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
    results = []
    for order in (snaps, list(reversed(snaps)), [snaps[1], snaps[0], snaps[2]]):
        s = load_settings(data_dir=tmp_path / f"run{len(results)}", pseudonym_key="k" * 32)
        for snap in order:
            load_delivery(s, small_delivery.make(s.landing, snap))
        results.append(dump(s))
    assert results[0] == results[1] == results[2]
    assert len({r[0] for r in results[0]["deltakelser"]}) == 3


def test_no_clear_fodselsnummer_anywhere(settings):
    t = small_delivery.tables()
    d = small_delivery.make(settings.landing)
    load_delivery(settings, d)
    numbers = small_delivery.identity_numbers(t)
    shutil.rmtree(settings.landing)  # the input itself may hold them; nothing else may
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for n in numbers:
                assert n.encode() not in content, f"clear fødselsnummer in {path}"


def test_pseudonym_is_keyed_hmac(tmp_path):
    a = load_settings(data_dir=tmp_path / "a", pseudonym_key="a" * 32)
    b = load_settings(data_dir=tmp_path / "b", pseudonym_key="b" * 32)
    for s in (a, b):
        load_delivery(s, small_delivery.make(s.landing))
    pa_ = dump(a)["personer"]
    pb = dump(b)["personer"]
    assert [r[2] for r in pa_] != [r[2] for r in pb]  # same person, other key, other pseudonym
    assert all(len(r[2]) == 64 for r in pa_)


# --- bad input --------------------------------------------------------------------------------
def _bad_missing_file(d: Path) -> None:
    (d / "vedtak.csv").unlink()


def _bad_header(d: Path) -> None:
    p = d / "tiltak.csv"
    p.write_bytes(p.read_bytes().replace(b"tiltakskode", b"tiltaks_kode", 1))
    refresh_manifest(d)


def _bad_date(d: Path) -> None:
    p = d / "deltakelser.csv"
    p.write_bytes(p.read_bytes().replace(b"31.10.2023", b"31.13.2023", 1))
    refresh_manifest(d)


def _bad_encoding(d: Path) -> None:
    p = d / "personer.csv"
    p.write_bytes(p.read_bytes().replace(b"SYR", "SØR".encode("cp1252"), 1))
    refresh_manifest(d)


def _bad_sha(d: Path) -> None:
    p = d / "tiltak.csv"
    p.write_bytes(p.read_bytes().replace(b"15,0", b"16,0", 1))


def _bad_rows(d: Path) -> None:
    doc = json.loads((d / "manifest.json").read_text())
    doc["files"]["vedtak.csv"]["rows"] = 5
    (d / "manifest.json").write_text(json.dumps(doc))


def _bad_truncated(d: Path) -> None:
    p = d / "deltakelser.csv"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 25])


def _bad_code(d: Path) -> None:
    p = d / "tiltak.csv"
    p.write_bytes(p.read_bytes().replace(b"ARBPRAKSIS", b"YOGA", 1))
    refresh_manifest(d)


BAD = {
    "missing file": (_bad_missing_file, ["vedtak.csv", "missing"]),
    "wrong header": (_bad_header, ["tiltak.csv line 1", "header", "tiltakskode"]),
    "bad date": (_bad_date, ["deltakelser.csv line 2, column sluttdato", "'31.13.2023'", "date"]),
    "wrong encoding": (_bad_encoding, ["personer.csv line 2", "not valid utf-8", "encoding"]),
    "sha256 mismatch": (_bad_sha, ["tiltak.csv", "sha256", "manifest"]),
    "row count mismatch": (_bad_rows, ["vedtak.csv", "has 2 data rows, the manifest says 5"]),
    "truncated file": (_bad_truncated, ["deltakelser.csv line 4", "truncated"]),
    "unknown code": (_bad_code, ["tiltak.csv line 3, column tiltakskode", "'YOGA'", "NORSK"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_delivery_is_rejected_and_warehouse_unchanged(settings, case):
    load_delivery(settings, small_delivery.make(settings.landing, date(2024, 1, 1)))
    before = sha(settings.warehouse)
    spoil, expected = BAD[case]
    d = small_delivery.make(settings.landing, SNAP)
    spoil(d)
    before_files = [p.name for p in d.iterdir()]
    with pytest.raises(ContractError) as exc:
        load_delivery(settings, d)
    message = str(exc.value)
    for fragment in expected:
        assert fragment in message, f"{case}: {fragment!r} not in {message!r}"
    assert "\n" not in message
    assert sha(settings.warehouse) == before
    # Copied into quarantine with a report; the landing folder is left as delivered.
    assert sorted(p.name for p in d.iterdir()) == sorted(before_files)
    (q,) = settings.quarantine_dir.iterdir()
    assert q.name.startswith("2024-02-01-")
    assert expected[0] in (q / "REJECTED.txt").read_text()
    assert read_load_log(settings)[-1]["outcome"] == "rejected"


def test_every_bad_class_has_its_own_message(tmp_path):
    messages = set()
    for i, (spoil, _) in enumerate(BAD.values()):
        d = small_delivery.make(tmp_path / str(i), SNAP)
        spoil(d)
        problems = check_delivery(d, load_settings(data_dir=tmp_path / "x"))
        assert problems
        messages.add(problems[0].message.split(" ")[0:3].__str__() + str(problems[0].file))
    assert len(messages) == len(BAD)


def test_invalid_check_digits_are_flagged_not_rejected(settings):
    t = small_delivery.tables()
    good = t["personer"][0]["fodselsnummer"]
    t["personer"][0]["fodselsnummer"] = good[:-1] + str((int(good[-1]) + 1) % 10)
    from nir.delivery.manifest import write_delivery

    load_delivery(settings, write_delivery(settings.landing, SNAP, t))
    flags = dict(
        duckdb.connect(str(settings.warehouse), read_only=True)
        .execute("select nir_lopenr, fnr_gyldig from raw.personer")
        .fetchall()
    )
    assert flags == {1: False, 2: True, 3: True}


@pytest.mark.parametrize(
    ("encoding", "bom", "crlf"),
    [("utf-8", False, False), ("utf-8", True, True), ("windows-1252", False, True)],
)
def test_dialect_variants_load_identically(tmp_path, encoding, bom, crlf):
    s = load_settings(data_dir=tmp_path / "d", pseudonym_key="k" * 32)
    t = small_delivery.tables()
    t["personer"][0]["landbakgrunn"] = "SYR"
    from nir.delivery.manifest import write_delivery

    load_delivery(s, write_delivery(s.landing, SNAP, t, encoding=encoding, bom=bom, crlf=crlf))
    ref = load_settings(data_dir=tmp_path / "ref", pseudonym_key="k" * 32)
    load_delivery(ref, write_delivery(ref.landing, SNAP, t))
    a, b = dump(s), dump(ref)
    assert {k: v for k, v in a.items() if k != "leveranser"} == {
        k: v for k, v in b.items() if k != "leveranser"
    }


def test_delivery_without_manifest_is_incomplete(settings):
    d = small_delivery.make(settings.landing)
    (d / "manifest.json").unlink()
    problems = check_delivery(d, settings)
    assert "still being written" in str(problems[0])


def test_a_number_found_valid_last_month_is_not_checked_again(settings, monkeypatch):
    """Only numbers new since the previous snapshot (or invalid in it) go through stdnum; the
    flags are the same as checking every number."""
    from nir.delivery import pseudonymize

    t = small_delivery.tables()
    good = t["personer"][0]["fodselsnummer"]
    t["personer"][0]["fodselsnummer"] = good[:-1] + str((int(good[-1]) + 1) % 10)  # invalid
    load_delivery(settings, small_delivery.write_delivery(settings.landing, SNAP, t))

    checked: list[str] = []
    real = pseudonymize.is_valid
    monkeypatch.setattr(pseudonymize, "is_valid", lambda n: checked.append(n) or real(n))
    newcomer = small_delivery._fnr("010190", "300")
    t["personer"].append(
        t["personer"][1] | {"nir_lopenr": 4, "fodselsnummer": newcomer, "skjermet": False}
    )
    later = date(2024, 3, 1)
    load_delivery(settings, small_delivery.write_delivery(settings.landing, later, t))
    # the invalid number and the newcomer; persons 2 and 3 carry last month's verdict
    assert sorted(checked) == sorted([t["personer"][0]["fodselsnummer"], newcomer])
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        flags = dict(
            con.execute(
                "select nir_lopenr, fnr_gyldig from raw.personer where snapshot_date = ?", [later]
            ).fetchall()
        )
    assert flags == {1: False, 2: True, 3: True, 4: True}

    # under another key nothing is carried: every number is checked
    checked.clear()
    rotated = load_settings(data_dir=settings.data_dir, pseudonym_key="r" * 32)
    load_delivery(rotated, small_delivery.write_delivery(settings.landing, date(2024, 4, 1), t))
    assert len(checked) == 4


def test_the_load_does_not_check_values_the_contract_check_passed_on_the_same_bytes(
    settings, monkeypatch
):
    """The run's check_contract checks the values; its load reads the same bytes (each
    file's sha256 verified against the manifest) and does not check them again. New bytes,
    or new checks, are checked."""
    from nir.delivery import check
    from nir.delivery.load import check_or_quarantine

    runs: list[str] = []
    real = check._check_values
    monkeypatch.setattr(
        check, "_check_values", lambda d, problems: runs.append(d.path.name) or real(d, problems)
    )
    d = small_delivery.make(settings.landing, SNAP)
    check_or_quarantine(settings, d)  # the check_contract task
    assert runs == ["2024-02-01"]
    assert load_delivery(settings, d).outcome == "loaded"
    assert runs == ["2024-02-01"]  # not checked again

    # the same folder with a value the contract refuses (and a manifest to match): new
    # bytes, so the load checks them and refuses them
    _bad_code(d)
    with pytest.raises(ContractError, match="'YOGA'"):
        load_delivery(settings, d)
    assert runs == ["2024-02-01", "2024-02-01"]

    # a passed delivery under changed checks is checked again
    good = small_delivery.make(settings.landing, date(2024, 3, 1))
    check_or_quarantine(settings, good)
    monkeypatch.setattr(check, "checks_version", lambda: "a newer version of the checks")
    load_delivery(settings, good)
    assert runs.count("2024-03-01") == 2
