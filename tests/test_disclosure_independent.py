"""The published tables against the disclosure rules, checked independently of the package.

Written from ``statistics.md`` ("Disclosure control", "Published tables") alone: nothing here
uses the package's suppression or audit code (``nir.publication.publish``'s table definitions, the
publication suite). The published database is produced by the real pipeline (generate, load,
dbt, gate, publish) and read back with plain SQL.

Skjermet persons are checked by difference: the same delivery once with some persons marked
``skjermet = J`` and once without those persons at all; every fylke and kommune row must be
the same in both.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from nir.config import load_settings

pytestmark = pytest.mark.integration

SNAP = date(2024, 3, 1)
THRESHOLD = 3  # "a count from 1 to 2 is not shown" (the default)
MIN_DENOMINATOR = 5  # "a share is shown only when its denominator is at least 5"

# The public interface, copied from statistics.md: grain, then measures.
REG = ("nivaa", "region", "region_navn")
META = ("snapshot_date", "status", "prikket")
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "deltakelse_aar": (
        ("aar", *REG, "kjonn", "aldersgruppe"),
        ("deltakere", "nye_deltakere", "avsluttede"),
    ),
    "resultater_aar": (
        ("aar", *REG, "kjonn", "landbakgrunn_gruppe"),
        (
            "avsluttede",
            "direkte_overgang",
            "overgang_arbeid",
            "overgang_utdanning",
            "ikke_registrert",
            "andel_direkte_overgang",
        ),
    ),
    "tiltak_aar": (("aar", *REG, "tiltakskode"), ("deltakere", "timer")),
    "deltakelse_maaned": (("periode", *REG), ("i_program", "startet", "avsluttet")),
    "registreringskvalitet": ((*REG, "kontroll"), ("kontrollert", "funn", "andel_uten_funn")),
    "revisjoner": (
        ("aar", *REG, "maal"),
        ("forste_verdi", "forste_snapshot", "endelig_verdi", "endring"),
    ),
}
LABEL_TABLES = ("etiketter", "regioner")  # codes and regions, beside the figures (issue #14)
NOT_FIGURES = ("forste_snapshot",)  # a date among the measures: no cell status
# Counts of persons or records (primary suppression applies).
COUNTS = {
    "deltakelse_aar": ("deltakere", "nye_deltakere", "avsluttede"),
    "resultater_aar": (
        "avsluttede",
        "direkte_overgang",
        "overgang_arbeid",
        "overgang_utdanning",
        "ikke_registrert",
    ),
    "tiltak_aar": ("deltakere",),
    "deltakelse_maaned": ("i_program", "startet", "avsluttet"),
    "registreringskvalitet": ("kontrollert", "funn"),
    "revisjoner": ("forste_verdi", "endelig_verdi"),  # values of key counts
}
SHARES = {
    "resultater_aar": ("andel_direkte_overgang", "avsluttede", "direkte_overgang"),
    "registreringskvalitet": ("andel_uten_funn", "kontrollert", "funn"),
}
IDENTIFIERS = {"fodselsnummer", "fnr", "fnr_pseudonym", "fnr_gyldig", "pseudonym", "nir_lopenr"}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

# (table, the dimension split, its total, the other grain columns, additive measures).
# Every person has one kjonn, one age group and one landbakgrunn: all counts add up.
DIMENSIONS = [
    ("deltakelse_aar", "kjonn", "alle", ("aar", "nivaa", "region", "aldersgruppe")),
    ("deltakelse_aar", "aldersgruppe", "alle", ("aar", "nivaa", "region", "kjonn")),
    ("resultater_aar", "kjonn", "alle", ("aar", "nivaa", "region", "landbakgrunn_gruppe")),
    ("resultater_aar", "landbakgrunn_gruppe", "alle", ("aar", "nivaa", "region", "kjonn")),
]
# Kommune -> fylke: only measures attributed to one kommune per person or record add up
# (a programme's results go to its programkommune; a control's record to one kommune).
# Deltakere count a person once per kommune, so they do not.
KOMMUNE_FYLKE = [
    ("deltakelse_aar", ("avsluttede",), ("aar", "kjonn", "aldersgruppe")),
    (
        "resultater_aar",
        COUNTS["resultater_aar"],
        ("aar", "kjonn", "landbakgrunn_gruppe"),
    ),
    ("registreringskvalitet", ("kontrollert", "funn"), ("kontroll",)),
]


def _rows(db: Path, table: str) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute(f"select * from statistikk.{table}")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _columns(db: Path) -> dict[str, list[str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out: dict[str, list[str]] = {}
        for table, column in con.execute(
            "select table_name, column_name from duckdb_columns() "
            "where schema_name = 'statistikk' order by table_name, column_index"
        ).fetchall():
            out.setdefault(table, []).append(column)
        return out
    finally:
        con.close()


def _rewrite(delivery: Path, name: str, keep, change=None) -> None:
    """Rewrite one CSV of a delivery (rows filtered / changed), keeping the manifest right."""
    path = delivery / name
    manifest = json.loads((delivery / "manifest.json").read_text("utf-8"))
    encoding = manifest["encoding"]
    text = path.read_bytes().decode(encoding)
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    header = text.split("\r\n" if "\r\n" in text else "\n", 1)[0].split(";")
    out = io.StringIO(newline="")
    w = csv.DictWriter(out, header, delimiter=";", lineterminator="\n")
    w.writeheader()
    n = 0
    for r in rows:
        if keep(r):
            w.writerow(change(r) if change else r)
            n += 1
    path.write_bytes(out.getvalue().encode(encoding))
    manifest["files"][name]["rows"] = n
    manifest["files"][name]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (delivery / "manifest.json").write_text(json.dumps(manifest, indent=2), "utf-8")


def _run(data: Path, delivery: Path) -> Path:
    from nir.delivery.load import load_delivery
    from nir.gate import run_gate
    from nir.publication.publish import publish
    from nir.warehouse.dbt import build

    settings = load_settings(
        data_dir=data, pseudonym_key="d" * 32, gate_max_ikke_registrert_share=0.25
    )
    load_delivery(settings, delivery)
    build(settings, SNAP)
    run_gate(settings, SNAP)
    return publish(settings, SNAP)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Published databases: ``with`` some persons skjermet, ``without`` those persons."""
    from nir.tools.generate import generate

    root = tmp_path_factory.mktemp("disclosure")
    folders = generate(root / "gen", persons=600, start="2023-01", end="2024-02", seed=21, daily=0)
    source = next(f for f in folders if f.name == SNAP.isoformat())
    with_dir, without_dir = root / "with" / SNAP.isoformat(), root / "without" / SNAP.isoformat()
    shutil.copytree(source, with_dir)
    shutil.copytree(source, without_dir)

    skjermet = set()

    def mark(r: dict) -> dict:
        if int(r["nir_lopenr"]) % 9 == 0 or r["skjermet"] == "J":
            skjermet.add(r["nir_lopenr"])
            r["skjermet"] = "J"
        return r

    _rewrite(with_dir, "personer.csv", lambda r: True, mark)
    assert len(skjermet) > 30
    for name in ("personer.csv", "deltakelser.csv", "vedtak.csv", "tiltak.csv"):
        _rewrite(without_dir, name, lambda r: r["nir_lopenr"] not in skjermet)
    return {
        "with": _run(root / "with-data", with_dir),
        "without": _run(root / "without-data", without_dir),
    }


def test_published_columns_are_the_public_interface_without_identifiers(published):
    for db in published.values():
        cols = _columns(db)
        assert set(cols) == {*TABLES, *LABEL_TABLES}
        for table, (grain, measures) in TABLES.items():
            status = [f"{m}_status" for m in measures if m not in NOT_FIGURES]
            assert cols[table] == [*grain, *measures, *META, *status], table
            assert not IDENTIFIERS & set(cols[table])
        pq = db.parent / "parquet"
        con = duckdb.connect()
        try:
            for table in TABLES:
                names = [
                    r[0]
                    for r in con.execute(
                        f"describe select * from read_parquet('{pq / (table + '.parquet')}')"
                    ).fetchall()
                ]
                assert names == cols[table]
        finally:
            con.close()
        for table in TABLES:
            for row in _rows(db, table):
                assert not [v for v in row.values() if isinstance(v, str) and _HEX64.match(v)]


def test_no_visible_count_below_the_threshold(published):
    for db in published.values():
        small = []
        for table, counts in COUNTS.items():
            for row in _rows(db, table):
                for c in counts:
                    if row[c] is not None and 0 < row[c] < THRESHOLD:
                        small.append((table, c, row))
        assert not small, small[:3]
        hidden = sum(row[c] is None for t, cs in COUNTS.items() for row in _rows(db, t) for c in cs)
        assert hidden > 0  # small cells exist in this register: the rule was exercised


def test_a_hidden_cell_is_null_and_marks_its_row(published):
    for db in published.values():
        for table, counts in COUNTS.items():
            for row in _rows(db, table):
                hidden = [c for c in counts if row[c] is None]
                assert bool(hidden) == bool(row["prikket"]) or (
                    table == "revisjoner" and row["forste_snapshot"] is None
                ), (table, row)
        for row in _rows(db, "tiltak_aar"):  # the hours would tell the hidden deltakere
            if row["deltakere"] is None:
                assert row["timer"] is None, row


def _one_hidden_part(rows, split, total, others, measures):
    groups: dict[tuple, dict] = {}
    for r in rows:
        key = tuple(r[o] for o in others)
        groups.setdefault(key, {"total": None, "parts": []})
        if r[split] == total:
            groups[key]["total"] = r
        else:
            groups[key]["parts"].append(r)
    bad = []
    for key, g in groups.items():
        if g["total"] is None:
            continue
        for m in measures:
            if g["total"][m] is None:
                continue
            hidden = [p for p in g["parts"] if p[m] is None]
            if len(hidden) == 1:
                bad.append((key, m, hidden[0][split]))
    return bad


def test_no_total_shown_with_exactly_one_hidden_part(published):
    for db in published.values():
        bad = []
        for table, split, total, others in DIMENSIONS:
            bad += [
                (table, *b)
                for b in _one_hidden_part(_rows(db, table), split, total, others, COUNTS[table])
            ]
        for table, measures, others in KOMMUNE_FYLKE:
            rows = [r for r in _rows(db, table) if r["nivaa"] in ("fylke", "kommune")]
            for r in rows:
                r["_fylke"] = r["region"][:2]
                r["_part"] = "total" if r["nivaa"] == "fylke" else r["region"]
            bad += [
                (table, *b)
                for b in _one_hidden_part(rows, "_part", "total", (*others, "_fylke"), measures)
            ]
        assert not bad, bad[:5]


def test_shares_only_with_a_denominator_of_five_and_between_zero_and_one(published):
    for db in published.values():
        shown = 0
        for table, (share, denominator, _) in SHARES.items():
            for row in _rows(db, table):
                if row[share] is None:
                    continue
                shown += 1
                assert row[denominator] is not None and row[denominator] >= MIN_DENOMINATOR, row
                assert 0 <= row[share] <= 1, row
        assert shown > 0


def test_a_share_does_not_reveal_a_hidden_count(published):
    """Shown share x shown denominator would give back a hidden numerator."""
    for db in published.values():
        bad = []
        for table, (share, denominator, numerator) in SHARES.items():
            for row in _rows(db, table):
                shown = row[share] is not None and row[denominator] is not None
                if shown and row[numerator] is None:
                    bad.append((table, row))
        assert not bad, bad[:3]


def test_skjermet_persons_are_not_in_fylke_or_kommune_rows(published):
    differs = []
    for table, (grain, measures) in TABLES.items():
        if table == "revisjoner":
            continue
        sub = {}
        for variant, db in published.items():
            rows = [r for r in _rows(db, table) if r["nivaa"] in ("fylke", "kommune")]
            sub[variant] = {tuple(r[g] for g in grain): [r[m] for m in measures] for r in rows}
        assert sub["with"], table
        compared = 0
        for key, values in sub["with"].items():
            other = sub["without"].get(key, [None if v is None else 0 for v in values])
            # secondary suppression may hide different cells (it sees the national totals);
            # every value visible in both must be the same
            for m, a, b in zip(measures, values, other, strict=True):
                if a is not None and b is not None:
                    compared += 1
                    if a != b:
                        differs.append((table, key, m, a, b))
        assert compared > 0, table
        land = {
            v: {tuple(r[g] for g in grain): r for r in _rows(db, table) if r["nivaa"] == "land"}
            for v, db in published.items()
        }
        assert land["with"].keys() >= land["without"].keys()
    assert not differs, differs[:5]
    # and the national figures do count them
    national = {
        v: next(
            r["deltakere"]
            for r in _rows(db, "deltakelse_aar")
            if r["nivaa"] == "land"
            and r["aar"] == 2023
            and r["kjonn"] == "alle"
            and r["aldersgruppe"] == "alle"
        )
        for v, db in published.items()
    }
    assert national["with"] > national["without"]
