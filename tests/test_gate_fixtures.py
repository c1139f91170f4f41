"""A small synthetic warehouse with the shape of the dbt marts, for the gate/publish tests.

Plain DuckDB, no dbt: ``make_snapshot`` writes, for one snapshot, the programme and spell
marts the completeness suite reads, the unsuppressed ``marts.fct_*`` figures (every count >= 5,
so nothing needs hiding), ``intermediate.int_regioner`` and a ``marts.kontrolliste``. Figures
add up from kommuner to fylke to land by construction. The publishing layer is then built by
dbt itself (``nir publish`` runs it), from these marts and the gate's verdicts.
"""

from __future__ import annotations

import itertools
import zlib
from datetime import date, datetime

import duckdb
import pandas as pd

from nir.config import Settings

KOMMUNER = ("0301", "4601", "4602")  # Oslo; Bergen and Kinn in fylke 46
YEARS = (2023, 2024)


def _rollup(base: pd.DataFrame, dims: list[str], measures: list[str]) -> pd.DataFrame:
    """Kommune rows -> kommune, fylke and land rows, each dim also as 'alle'."""
    con = duckdb.connect()
    con.register("base", base)
    lead = [d for d in ("aar", "periode") if d in base.columns]
    breakdown = [d for d in dims if d not in lead]
    sums = ", ".join(f"sum({m})::bigint as {m}" for m in measures)
    levels = """
        select 'kommune' as nivaa, kommune as region, * exclude (kommune) from base
        union all
        select 'fylke', left(kommune, 2), * exclude (kommune) from base
        union all
        select 'land', '0000', * exclude (kommune) from base
    """
    sets = []
    for r in range(len(breakdown) + 1):
        for combo in itertools.combinations(breakdown, r):
            sets.append("(" + ", ".join([*lead, "nivaa", "region", *combo]) + ")")
    cols = ", ".join(
        [*lead, "nivaa", "region"] + [f"coalesce({d}, 'alle') as {d}" for d in breakdown]
    )
    df = con.execute(
        f"""select {cols}, {sums} from ({levels})
            group by grouping sets ({", ".join(sets)})"""
    ).df()
    return df


def _frames(snapshot: date, bump: int) -> dict[str, pd.DataFrame]:
    def v(*key: object) -> int:
        return 5 + zlib.crc32(repr(key).encode()) % 7

    rows = []
    for aar, k, kj, lb in itertools.product(YEARS, KOMMUNER, ("K", "M"), ("Ukraina", "Ovrige")):
        extra = bump if (k == "4601" and aar == 2023) else 0
        arbeid, utd, ir = 5 + extra, v(aar, k, kj, lb, 3), 5
        rows.append(
            dict(
                aar=aar,
                kommune=k,
                kjonn=kj,
                landbakgrunn_gruppe=lb,
                avsluttede=arbeid + utd + ir + v(aar, k, kj, lb),
                direkte_overgang=arbeid + utd,
                overgang_arbeid=arbeid,
                overgang_utdanning=utd,
                ikke_registrert=ir,
            )
        )
    ended: dict[tuple, int] = {}
    for r in rows:
        key = (r["aar"], r["kommune"], r["kjonn"])
        ended[key] = ended.get(key, 0) + r["avsluttede"]
    resultater = _rollup(
        pd.DataFrame(rows),
        ["aar", "kjonn", "landbakgrunn_gruppe"],
        [
            "avsluttede",
            "direkte_overgang",
            "overgang_arbeid",
            "overgang_utdanning",
            "ikke_registrert",
        ],
    )
    resultater["andel_direkte_overgang"] = (
        resultater.direkte_overgang / resultater.avsluttede
    ).round(3)

    rows = []
    for aar, k, kj, ag in itertools.product(YEARS, KOMMUNER, ("K", "M"), ("18-25", "26-35")):
        rows.append(
            dict(
                aar=aar,
                kommune=k,
                kjonn=kj,
                aldersgruppe=ag,
                deltakere=v(aar, k, kj, ag) + 20,
                nye_deltakere=v(aar, k, kj, ag, 1),
                # the same avgangskohort as resultater_aar: split its total over the ages
                avsluttede=(tot := ended[(aar, k, kj)]) // 2 if ag == "18-25" else tot - tot // 2,
            )
        )
    deltakelse = _rollup(
        pd.DataFrame(rows),
        ["aar", "kjonn", "aldersgruppe"],
        ["deltakere", "nye_deltakere", "avsluttede"],
    )

    rows = [
        dict(aar=aar, kommune=k, tiltakskode=t, deltakere=v(aar, k, t) + 5, timer=100)
        for aar, k, t in itertools.product(YEARS, KOMMUNER, ("NORSK", "SAMF"))
    ]
    tiltak = _rollup(pd.DataFrame(rows), ["aar", "tiltakskode"], ["deltakere", "timer"])
    tiltak["timer"] = tiltak["timer"].astype(float)
    tiltak = tiltak[tiltak.tiltakskode != "alle"]

    periode = f"{snapshot.year if snapshot.month > 1 else snapshot.year - 1}-" + (
        f"{snapshot.month - 1:02d}" if snapshot.month > 1 else "12"
    )
    rows = [
        dict(periode=periode, kommune=k, i_program=v(k) + 30, startet=v(k, 1), avsluttet=v(k, 2))
        for k in KOMMUNER
    ]
    maaned = _rollup(pd.DataFrame(rows), ["periode"], ["i_program", "startet", "avsluttet"])

    rows = [
        dict(kommune=k, kontroll=c, kontrollert=v(k, c) + 40, funn=v(k, c, 1))
        for k, c in itertools.product(KOMMUNER, ("MANGLER_VEDTAK", "MANGLER_TILTAK"))
    ]
    kvalitet = _rollup(pd.DataFrame(rows), ["kontroll"], ["kontrollert", "funn"])
    kvalitet = kvalitet[kvalitet.kontroll != "alle"]
    kvalitet["andel_uten_funn"] = (1 - kvalitet.funn / kvalitet.kontrollert).round(3)

    return {
        "deltakelse_aar": deltakelse,
        "resultater_aar": resultater,
        "tiltak_aar": tiltak,
        "deltakelse_maaned": maaned,
        "registreringskvalitet": kvalitet,
    }


def _programmer(snapshot: date, ikke_registrert_2023: float, error_share: float):
    prog, spells = [], []
    n = 200
    for i in range(n):
        k = KOMMUNER[i % 3]
        aar = 2023 if i < 120 else 2024
        slutt = date(aar, 1 + (i % 6), 15) if i < 190 else None
        ir = (aar == 2023 and i < round(120 * ikke_registrert_2023)) or (aar == 2024 and i == 130)
        prog.append(
            dict(
                snapshot_date=snapshot,
                nir_lopenr=1000 + i,
                program_nr=1,
                startdato=date(2022, 1, 1),
                sluttdato=slutt,
                programkommune=k,
                fylke=k[:2],
                avslutningsaarsak=None if ir or slutt is None else "ARBEID",
                ikke_registrert=bool(ir and slutt is not None),
                direkte_overgang=not ir,
                overgang_type="arbeid",
                skjermet=False,
                kjonn="K" if i % 2 else "M",
                landbakgrunn_gruppe="Ovrige",
                avgangsaar=slutt.year if slutt else None,
                # registration deadline (2 months after the end) passed before the snapshot
                frist_passert=slutt is not None
                and date(slutt.year + (slutt.month + 1) // 12, (slutt.month + 1) % 12 + 1, 15)
                < snapshot,
            )
        )
        spells.append(
            dict(
                snapshot_date=snapshot,
                deltakelse_id=5000 + i,
                nir_lopenr=1000 + i,
                programkommune=k,
                fylke=k[:2],
                startdato=date(2022, 1, 1),
                sluttdato=slutt,
                avslutningsaarsak=None,
                ikke_registrert=bool(ir),
                skjermet=False,
                har_error_funn=i % 100 < round(100 * error_share),
            )
        )
    return pd.DataFrame(prog), pd.DataFrame(spells)


def kontrolliste(snapshot: date) -> pd.DataFrame:
    rows = [
        ("0301", 1000, 5000, "MANGLER_VEDTAK", "error", '=HYPERLINK("http://x")'),
        ("0301", 1003, 5003, "MANGLER_TILTAK", "error", "<script>alert(1)</script>"),
        ("0301", 1006, 5006, "SEN_REGISTRERING", "warning", "+registrert 3 mnd for sent"),
        ("4601", 1001, 5001, "MANGLER_VEDTAK", "error", "@SUM(A1) & Æøå"),
        ("4602", 1002, None, "UGYLDIG_FODSELSNUMMER", "warning", "-fnr feiler kontrollsiffer"),
    ]
    df = pd.DataFrame(
        rows,
        columns=[
            "programkommune",
            "nir_lopenr",
            "deltakelse_id",
            "kontroll",
            "alvorlighet",
            "detalj",
        ],
    )
    df.insert(0, "snapshot_date", snapshot)
    df["deltakelse_id"] = df["deltakelse_id"].astype("Int64")
    return df


def _typed(column: str) -> str:
    if column == "aar":
        return "cast(aar as integer) as aar"
    if column.startswith("andel_"):
        return f"cast({column} as decimal(4, 3)) as {column}"
    if column == "timer":
        return "cast(timer as decimal(12, 1)) as timer"
    return column


def make_snapshot(
    settings: Settings,
    snapshot: date,
    *,
    bump: int = 0,
    ikke_registrert_2023: float = 0.02,
    error_share: float = 0.05,
    kind: str = "monthly",
) -> None:
    """Add (or replace) one snapshot in the synthetic warehouse."""
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse))
    try:
        for s in ("raw", "marts", "intermediate"):
            con.execute(f"create schema if not exists {s}")
        con.execute(
            "create or replace table intermediate.int_regioner as "
            "select * from (values ('land', '0000', 'Norge'), ('fylke', '03', 'Oslo'), "
            "('fylke', '46', 'Vestland'), ('kommune', '0301', 'Oslo'), "
            "('kommune', '4601', 'Bergen'), ('kommune', '4602', 'Kinn')) "
            "as r (nivaa, region, region_navn)"
        )
        frames: dict[str, pd.DataFrame] = {}
        for name, df in _frames(snapshot, bump).items():
            df = df.copy()
            df.insert(0, "snapshot_date", snapshot)
            frames[f"marts.fct_{name}"] = df
        prog, spells = _programmer(snapshot, ikke_registrert_2023, error_share)
        frames["marts.fct_programmer"] = prog
        frames["marts.fct_deltakelser"] = spells
        frames["marts.kontrolliste"] = kontrolliste(snapshot)
        frames["raw.leveranser"] = pd.DataFrame(
            [dict(snapshot_date=snapshot, kind=kind, extracted_at=datetime(2024, 1, 1))]
        )
        for table, df in frames.items():
            con.register("df", df)
            typed = ", ".join(_typed(c) for c in df.columns)  # the real marts' types
            con.execute(f"create table if not exists {table} as select {typed} from df limit 0")
            con.execute(f"delete from {table} where snapshot_date = ?", [snapshot])
            con.execute(f"insert into {table} by name select * from df")
            con.unregister("df")
    finally:
        con.close()


def test_fixture_adds_up(tmp_path):
    from nir.config import load_settings

    settings = load_settings(data_dir=tmp_path / "data")
    make_snapshot(settings, date(2024, 2, 1))
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    land, fylker = con.execute(
        """select sum(avsluttede) filter (where nivaa = 'land'),
                  sum(avsluttede) filter (where nivaa = 'fylke')
           from marts.fct_resultater_aar
           where aar = 2023 and kjonn = 'alle' and landbakgrunn_gruppe = 'alle'"""
    ).fetchone()
    assert land == fylker > 0
