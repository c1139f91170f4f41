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

from nir.catalog import PublishedTable, load_catalog, shared_margins
from nir.checks import HARD, Check, by_position
from nir.config import Settings
from nir_expectations._warehouse import schema_columns

REGION_COLS = ("nivaa", "region", "region_navn")
# Tables counting records (spells, tiltak), not persons: how many records skjermet persons
# have is not known here, so land is only checked to be at least the sum of the fylker.
RECORD_COUNTS = frozenset({"registreringskvalitet"})


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- sums ----------------------------------------------------------------------
def _hierarchy_sql(
    t: PublishedTable, cols: list[str], measure: str, skjermet: float, snapshot: str
) -> str:
    """One measure of one mart: each fylke and land row with the sum of its parts."""
    dims = [c for c in t.rad if c not in REGION_COLS and c in cols]
    match_k = " and ".join([f"k.{_q(d)} is not distinct from t.{_q(d)}" for d in dims] or ["true"])
    match_f = " and ".join([f"f.{_q(d)} is not distinct from t.{_q(d)}" for d in dims] or ["true"])
    dl = ", ".join(_q(d) for d in dims)
    sel_d = (dl + ",") if dims else ""
    key = "concat_ws('|', " + ", ".join([f"t.{_q(d)}::varchar" for d in dims] or ["''"]) + ")"
    additive = "true" if t.maal[measure].regioner == "additiv" else "false"
    m = _q(measure)
    return f"""
        with t as (
            select * from marts.fct_{t.name} where snapshot_date = {snapshot}
        ), k as (
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


def _union(
    con: duckdb.DuckDBPyConnection,
    selects: list[str],
    empty: pd.DataFrame,
    order: str,
    columns: str = "*",
) -> pd.DataFrame:
    """``columns`` of the selects' rows as one query (one round trip, one frame), in a fixed
    ``order`` (a failure's examples are the same every run); ``empty`` when there are none."""
    if not selects:
        return empty
    rows = " union all ".join(f"select * from ({s})" for s in selects)
    return con.execute(f"select {columns} from ({rows}) order by {order}").df()


def build(con: duckdb.DuckDBPyConnection, settings: Settings, snapshot: date) -> list[Check]:
    """The marts of ``snapshot`` add up as their declarations say (before disclosure control)."""
    catalog = load_catalog(settings)
    marts = schema_columns(con, "marts")
    snap = f"'{snapshot.isoformat()}'::date"
    row = con.execute(
        "select count(distinct nir_lopenr) from marts.fct_programmer "
        "where snapshot_date = ? and skjermet",
        [snapshot],
    ).fetchone()
    skjermet = int(row[0] or 0) if row else 0
    selects = []
    for t in catalog.values():
        cols = marts.get(f"fct_{t.name}", [])
        if not cols or "nivaa" not in t.rad:
            continue
        for measure in (m.name for m in t.maal.values() if m.is_count):
            if measure in cols:
                bound = float("inf") if t.name in RECORD_COUNTS else float(skjermet)
                selects.append(_hierarchy_sql(t, cols, measure, bound, snap))
    columns = ["tabell", "maal", "additiv", "nivaa", "region", "gruppe", "verdi", "sum_deler"]
    columns += ["skjermet", "avvik", "avvik_utover_skjermet", "celle"]
    # the differences and the cell's description computed with the sums, in DuckDB
    derived = """*, verdi - sum_deler as avvik,
        verdi - sum_deler - skjermet as avvik_utover_skjermet,
        tabell || '.' || maal || ' ' || nivaa || ' ' || region || ' [' || gruppe || ']: '
            || verdi::varchar || ' vs parts ' || sum_deler::varchar as celle"""
    order = "tabell, maal, nivaa, region, gruppe"
    df = _union(con, selects, pd.DataFrame(columns=columns), order, derived)
    df["additiv"] = df["additiv"].astype(bool)
    # GX reads the differences each rule judges (the rule's rows; null elsewhere, which GX's
    # column expectations skip: the same checks as row conditions, which GX would apply by
    # filtering the frame with pandas' query for each); the description of each row stays
    # out of the validated frame and names the failing rows by position
    cells = by_position(df["celle"])
    additiv = df["additiv"].to_numpy(dtype=bool)
    nivaa = df["nivaa"].astype(str).to_numpy()
    avvik = df["avvik"].astype(float)
    utover = df["avvik_utover_skjermet"].astype(float)
    df = pd.DataFrame(
        {
            "avvik_fylke": avvik.where(additiv & (nivaa == "fylke")),
            "avvik_land": avvik.where(additiv & (nivaa == "land")),
            "utover_skjermet_additiv": utover.where(additiv),
            "utover_skjermet_deltakere": utover.where(~additiv),
        }
    )
    exps = [
        gxe.ExpectColumnValuesToBeBetween(
            column="avvik_fylke",
            min_value=0,
            max_value=0,
            meta={"severity": HARD, "label": "endings/results of kommuner add up to fylke"},
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="avvik_land",
            min_value=0,
            meta={"severity": HARD, "label": "land at least the sum of fylker"},
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="utover_skjermet_additiv",
            max_value=0,
            meta={"severity": HARD, "label": "endings/results: land = fylker + skjermet"},
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="utover_skjermet_deltakere",
            max_value=0,
            meta={"severity": HARD, "label": "participant counts do not exceed their parts"},
        ),
    ]
    # revisjoner is built when publishing: only the marts that exist are counted
    counts = [
        f"select 'marts.fct_{t.name}' as tabell, count(*) as rader "
        f"from marts.fct_{t.name} where snapshot_date = {snap}"
        for t in catalog.values()
        if f"fct_{t.name}" in marts
    ]
    built = _union(con, counts, pd.DataFrame({"tabell": [], "rader": []}), "tabell")
    built_exps = [
        gxe.ExpectColumnValuesToBeBetween(
            column="rader",
            min_value=1,
            meta={"severity": HARD, "label": "marts built for the snapshot"},
        )
    ]
    relations = _declared_relations(con, catalog, marts, snap)
    relation_cells = by_position(relations["celle"])
    relation_exps = [
        gxe.ExpectColumnValuesToBeBetween(
            column="avvik",
            min_value=0,
            max_value=0,
            meta={"severity": HARD, "label": "declared relations between measures and tables"},
        )
    ]
    return [
        Check("summer", df, exps, describe=cells),
        Check("bygget", built, built_exps, describe="tabell"),
        Check("relasjoner", relations[["avvik"]], relation_exps, describe=relation_cells),
    ]


def _declared_relations(
    con: duckdb.DuckDBPyConnection,
    catalog: dict[str, PublishedTable],
    marts: dict[str, list[str]],
    snap: str,
) -> pd.DataFrame:
    """The relations disclosure control relies on, evaluated on the snapshot's marts: a measure
    counting some outcomes is the sum of the measures counting its parts, and the same
    population in two tables agrees on their common margin."""
    selects = []
    for t in catalog.values():
        if f"fct_{t.name}" not in marts:
            continue
        for m, combo in t.outcome_sums():
            selects.append(
                f"""select '{t.name}: {m} = {" + ".join(combo)} ' || nivaa || ' '
                           || region as celle,
                           ({_q(m)} - ({" + ".join(map(_q, combo))}))::double as avvik
                    from marts.fct_{t.name} where snapshot_date = {snap}"""
            )
    for ta, ma, tb, mb in shared_margins(catalog):
        if not all(f"fct_{t.name}" in marts for t in (ta, tb)):
            continue
        common = [c for c in ta.rad if c in tb.rad]
        only_a = [f"a.{_q(d)} = '{v}'" for d, v in ta.dimensjoner.items() if d not in tb.rad]
        only_b = [f"b.{_q(d)} = '{v}'" for d, v in tb.dimensjoner.items() if d not in ta.rad]
        on = " and ".join(f"a.{_q(c)} = b.{_q(c)}" for c in common)
        label = " || ' ' || ".join(f"a.{_q(c)}::varchar" for c in common)
        selects.append(
            f"""select '{ta.name}.{ma} = {tb.name}.{mb} ' || {label} as celle,
                       (a.{_q(ma)} - b.{_q(mb)})::double as avvik
                from marts.fct_{ta.name} a join marts.fct_{tb.name} b
                  on {on} and a.snapshot_date = b.snapshot_date
                where a.snapshot_date = {snap}
                  {"".join(" and " + w for w in only_a + only_b)}"""
        )
    empty = pd.DataFrame({"celle": pd.Series(dtype=str), "avvik": pd.Series(dtype=float)})
    return _union(con, selects, empty, "celle")
