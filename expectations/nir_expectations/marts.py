"""Marts suite: the unsuppressed marts of a snapshot add up as declared (part of the gate).

Measures whose regions are declared additive (endings, results, findings: attributed to one
programkommune) add up from kommuner to fylke and from fylker plus skjermet persons to the
country; other counts never exceed the sum of their parts (plus skjermet persons). The
declarations are the published tables' (``nir.catalog``, read from dbt's manifest), so a
relation the disclosure step relies on is checked on the data before anything is published.
"""

from __future__ import annotations

from datetime import date

import duckdb
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.expectations.row_conditions import Column

from nir.catalog import PublishedTable, load_catalog, shared_margins
from nir.config import Settings
from nir.gate import HARD, Check
from nir_expectations._warehouse import columns as _columns

REGION_COLS = ("nivaa", "region", "region_navn")
# Tables counting records (spells, tiltak), not persons: how many records skjermet persons
# have is not known here, so land is only checked to be at least the sum of the fylker.
RECORD_COUNTS = frozenset({"registreringskvalitet"})


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- sums ----------------------------------------------------------------------
def _hierarchy_sql(t: PublishedTable, cols: list[str], measure: str, skjermet: float) -> str:
    dims = [c for c in t.rad if c not in REGION_COLS and c in cols]
    match_k = " and ".join([f"k.{_q(d)} is not distinct from t.{_q(d)}" for d in dims] or ["true"])
    match_f = " and ".join([f"f.{_q(d)} is not distinct from t.{_q(d)}" for d in dims] or ["true"])
    dl = ", ".join(_q(d) for d in dims)
    sel_d = (dl + ",") if dims else ""
    key = "concat_ws('|', " + ", ".join([f"t.{_q(d)}::varchar" for d in dims] or ["''"]) + ")"
    additive = "true" if t.maal[measure].regioner == "additiv" else "false"
    m = _q(measure)
    return f"""
        with k as (
            select {sel_d} left(region, 2) as fylke, sum({m}) as s
            from t where nivaa = 'kommune' group by all
        ), f as (
            select {sel_d} sum({m}) as s from t where nivaa = 'fylke' group by all
        )
        select '{t.name}' as tabell, '{measure}' as maal, {additive} as additiv,
               t.nivaa, t.region, {key} as gruppe, t.{m}::double as verdi,
               case when t.nivaa = 'fylke' then coalesce(k.s, 0) else coalesce(f.s, 0) end::double
                   as sum_deler,
               case when t.nivaa = 'land' then '{skjermet}'::double else 0 end as skjermet
        from t
        left join k on t.nivaa = 'fylke' and t.region = k.fylke and {match_k}
        left join f on t.nivaa = 'land' and {match_f}
        where t.nivaa in ('fylke', 'land')
    """


def build(con: duckdb.DuckDBPyConnection, settings: Settings, snapshot: date) -> list[Check]:
    """The marts of ``snapshot`` add up as their declarations say (before disclosure control)."""
    catalog = load_catalog(settings)
    row = con.execute(
        "select count(distinct nir_lopenr) from marts.fct_programmer "
        "where snapshot_date = ? and skjermet",
        [snapshot],
    ).fetchone()
    skjermet = int(row[0] or 0) if row else 0
    frames = []
    for t in catalog.values():
        mart = f"fct_{t.name}"
        cols = _columns(con, "marts", mart)
        if not cols or "nivaa" not in t.rad:
            continue
        con.execute(
            f"create or replace temp view t as select * from marts.{mart} "
            "where snapshot_date = ?::date".replace("?", f"'{snapshot.isoformat()}'")
        )
        for measure in (m.name for m in t.maal.values() if m.is_count):
            if measure in cols:
                bound = float("inf") if t.name in RECORD_COUNTS else float(skjermet)
                frames.append(con.execute(_hierarchy_sql(t, cols, measure, bound)).df())
    con.execute("drop view if exists t")
    columns = [
        "tabell",
        "maal",
        "additiv",
        "nivaa",
        "region",
        "gruppe",
        "verdi",
        "sum_deler",
        "skjermet",
    ]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    df["avvik"] = df["verdi"].astype(float) - df["sum_deler"].astype(float)
    df["avvik_utover_skjermet"] = df["avvik"] - df["skjermet"].astype(float)
    df["additiv"] = df["additiv"].astype(bool)
    df["celle"] = (
        df["tabell"]
        + "."
        + df["maal"]
        + " "
        + df["nivaa"]
        + " "
        + df["region"]
        + " ["
        + df["gruppe"]
        + "]: "
        + df["verdi"].astype(str)
        + " vs parts "
        + df["sum_deler"].astype(str)
    )
    exps = [
        gxe.ExpectColumnValuesToBeBetween(
            column="avvik",
            min_value=0,
            max_value=0,
            row_condition=(Column("additiv") == True) & (Column("nivaa") == "fylke"),  # noqa: E712
            meta={"severity": HARD, "label": "endings/results of kommuner add up to fylke"},
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="avvik",
            min_value=0,
            row_condition=(Column("additiv") == True) & (Column("nivaa") == "land"),  # noqa: E712
            meta={"severity": HARD, "label": "land at least the sum of fylker"},
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="avvik_utover_skjermet",
            max_value=0,
            row_condition=Column("additiv") == True,  # noqa: E712
            meta={"severity": HARD, "label": "endings/results: land = fylker + skjermet"},
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="avvik_utover_skjermet",
            max_value=0,
            row_condition=Column("additiv") == False,  # noqa: E712
            meta={"severity": HARD, "label": "participant counts do not exceed their parts"},
        ),
    ]
    built = pd.DataFrame(
        [
            {
                "tabell": f"marts.fct_{t.name}",
                "rader": _rows(con, "marts", f"fct_{t.name}", snapshot),
            }
            for t in catalog.values()
            if _columns(con, "marts", f"fct_{t.name}")  # revisjoner is built when publishing
        ]
    )
    built_exps = [
        gxe.ExpectColumnValuesToBeBetween(
            column="rader",
            min_value=1,
            meta={"severity": HARD, "label": "marts built for the snapshot"},
        )
    ]
    relations = _declared_relations(con, catalog, snapshot)
    relation_exps = [
        gxe.ExpectColumnValuesToBeBetween(
            column="avvik",
            min_value=0,
            max_value=0,
            meta={"severity": HARD, "label": "declared relations between measures and tables"},
        )
    ]
    return [
        Check("summer", df, exps, describe="celle"),
        Check("bygget", built, built_exps, describe="tabell"),
        Check("relasjoner", relations, relation_exps, describe="celle"),
    ]


def _declared_relations(
    con: duckdb.DuckDBPyConnection, catalog: dict[str, PublishedTable], snapshot: date
) -> pd.DataFrame:
    """The relations disclosure control relies on, evaluated on the snapshot's marts: a measure
    counting some outcomes is the sum of the measures counting its parts, and the same
    population in two tables agrees on their common margin."""
    frames = []
    snap = f"'{snapshot.isoformat()}'::date"
    for t in catalog.values():
        if not _columns(con, "marts", f"fct_{t.name}"):
            continue
        for m, combo in t.outcome_sums():
            frames.append(
                con.execute(
                    f"""select '{t.name}: {m} = {" + ".join(combo)} ' || nivaa || ' '
                               || region as celle,
                               ({_q(m)} - ({" + ".join(map(_q, combo))}))::double as avvik
                        from marts.fct_{t.name} where snapshot_date = {snap}"""
                ).df()
            )
    for ta, ma, tb, mb in shared_margins(catalog):
        has = [_columns(con, "marts", f"fct_{t.name}") for t in (ta, tb)]
        if not all(has):
            continue
        common = [c for c in ta.rad if c in tb.rad]
        only_a = [f"a.{_q(d)} = '{v}'" for d, v in ta.dimensjoner.items() if d not in tb.rad]
        only_b = [f"b.{_q(d)} = '{v}'" for d, v in tb.dimensjoner.items() if d not in ta.rad]
        on = " and ".join(f"a.{_q(c)} = b.{_q(c)}" for c in common)
        label = " || ' ' || ".join(f"a.{_q(c)}::varchar" for c in common)
        frames.append(
            con.execute(
                f"""select '{ta.name}.{ma} = {tb.name}.{mb} ' || {label} as celle,
                           (a.{_q(ma)} - b.{_q(mb)})::double as avvik
                    from marts.fct_{ta.name} a join marts.fct_{tb.name} b
                      on {on} and a.snapshot_date = b.snapshot_date
                    where a.snapshot_date = {snap}
                      {"".join(" and " + w for w in only_a + only_b)}"""
            ).df()
        )
    if not frames:
        return pd.DataFrame({"celle": pd.Series(dtype=str), "avvik": pd.Series(dtype=float)})
    return pd.concat(frames, ignore_index=True)


def _rows(con: duckdb.DuckDBPyConnection, schema: str, table: str, snapshot: date) -> int:
    if not _columns(con, schema, table):
        return 0
    row = con.execute(
        f"select count(*) from {schema}.{table} where snapshot_date = ?", [snapshot]
    ).fetchone()
    return int(row[0]) if row else 0
