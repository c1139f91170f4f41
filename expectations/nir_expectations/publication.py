"""Publication suite: the published figures add up and disclose no one.

Before suppression (``build_before_suppression``, on the unsuppressed marts of a snapshot,
part of the gate): measures attributed to one programkommune (endings, results, findings)
add up from kommuner to fylke and from fylker plus skjermet persons to the country;
participant counts never exceed the sum of their parts (plus skjermet persons).

After suppression (``build_after_suppression``, on a built statistics database, before it is
published): exactly the published columns (so no identifier column); no visible count from 1
to ``suppression_threshold - 1``; no hidden value derivable from a shown total (secondary
suppression); shares in [0, 1] and only with a denominator of at least
``min_share_denominator``; a row with a hidden cell is flagged ``prikket``.
"""

from __future__ import annotations

from datetime import date

import duckdb
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.expectations.row_conditions import Column, Condition, OrCondition

from nir.config import Settings
from nir.gate import HARD, Check
from nir.publication.publish import IDENTIFIER_COLUMNS, PUBLISHED_TABLES, SHARE_MAX, Tabell

REGION_COLS = ("nivaa", "region", "region_navn")
# Tables counting records (spells, tiltak), not persons: how many records skjermet persons
# have is not known here, so land is only checked to be at least the sum of the fylker.
RECORD_COUNTS = frozenset({"registreringskvalitet"})


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def _any_null(columns: list[str]) -> Condition:
    if len(columns) == 1:
        return Column(columns[0]).is_null()
    return OrCondition(conditions=[Column(c).is_null() for c in columns])


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- before suppression ----------------------------------------------------------------------
def _hierarchy_sql(t: Tabell, cols: list[str], measure: str, skjermet: float) -> str:
    dims = [c for c in t.grain if c not in REGION_COLS and c in cols]
    match_k = " and ".join([f"k.{_q(d)} is not distinct from t.{_q(d)}" for d in dims] or ["true"])
    match_f = " and ".join([f"f.{_q(d)} is not distinct from t.{_q(d)}" for d in dims] or ["true"])
    dl = ", ".join(_q(d) for d in dims)
    sel_d = (dl + ",") if dims else ""
    key = "concat_ws('|', " + ", ".join([f"t.{_q(d)}::varchar" for d in dims] or ["''"]) + ")"
    additive = "true" if measure in t.additive else "false"
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


def build_before_suppression(
    con: duckdb.DuckDBPyConnection, settings: Settings, snapshot: date
) -> list[Check]:
    row = con.execute(
        "select count(distinct nir_lopenr) from marts.fct_programmer "
        "where snapshot_date = ? and skjermet",
        [snapshot],
    ).fetchone()
    skjermet = int(row[0] or 0) if row else 0
    frames = []
    for t in PUBLISHED_TABLES.values():
        if not t.marts:
            continue
        cols = _columns(con, "marts", t.marts)
        if not cols:
            continue
        con.execute(
            f"create or replace temp view t as select * from marts.{t.marts} "
            "where snapshot_date = ?::date".replace("?", f"'{snapshot.isoformat()}'")
        )
        for measure in t.counts:
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
                "tabell": f"publisering.{t.name}",
                "rader": _rows(con, "publisering", t.name, snapshot),
            }
            for t in PUBLISHED_TABLES.values()
            if t.marts  # revisjoner is computed when publishing
        ]
    )
    built_exps = [
        gxe.ExpectColumnValuesToBeBetween(
            column="rader",
            min_value=1,
            meta={"severity": HARD, "label": "published tables built for the snapshot"},
        )
    ]
    return [
        Check("summer", df, exps, describe="celle"),
        Check("bygget", built, built_exps, describe="tabell"),
    ]


def _rows(con: duckdb.DuckDBPyConnection, schema: str, table: str, snapshot: date) -> int:
    if not _columns(con, schema, table):
        return 0
    row = con.execute(
        f"select count(*) from {schema}.{table} where snapshot_date = ?", [snapshot]
    ).fetchone()
    return int(row[0]) if row else 0


# --- after suppression -----------------------------------------------------------------------
def _secondary_sql(t: Tabell, schema: str, cols: list[str], con: duckdb.DuckDBPyConnection) -> str:
    """One row per (measure, total): is the total shown, how many of its parts are hidden."""
    parts = []
    fq = f"{schema}.{t.name}"
    grain = [c for c in t.grain if c in cols and c != "region_navn"]
    for measure in t.counts:
        if measure not in cols:
            continue
        m = _q(measure)
        # breakdowns with an 'alle' total (kjonn, aldersgruppe, landbakgrunn_gruppe, ...)
        for dim in grain:
            if dim in ("nivaa", "region", "aar", "periode"):
                continue
            has_total = con.execute(
                f"select count(*) from {fq} where {_q(dim)}::varchar = 'alle'"
            ).fetchone()
            if not has_total or not has_total[0]:
                continue
            others = [c for c in grain if c != dim]
            key = "concat_ws('|', " + ", ".join(f"{_q(c)}::varchar" for c in others) + ")"
            d = _q(dim)
            parts.append(
                f"""select '{t.name}' as tabell, '{measure}' as maal, '{dim}' as dim,
                       {key} as gruppe,
                       coalesce(bool_or({d}::varchar = 'alle' and {m} is not null), false)
                           as total_synlig,
                       count(*) filter (where {d}::varchar <> 'alle' and {m} is null)
                           as skjulte_deler
                    from {fq} group by {", ".join(_q(c) for c in others)}"""
            )
        # kommuner within a fylke, for measures attributed to one programkommune
        if measure in t.additive:
            others = [c for c in grain if c not in ("nivaa", "region")]
            key = (
                "concat_ws('|', "
                + ", ".join([f"{_q(c)}::varchar" for c in others] + ["left(region, 2)"])
                + ")"
            )
            group = ", ".join([_q(c) for c in others] + ["left(region, 2)"])
            parts.append(
                f"""select '{t.name}' as tabell, '{measure}' as maal, 'region' as dim,
                       {key} as gruppe,
                       coalesce(bool_or(nivaa = 'fylke' and {m} is not null), false)
                           as total_synlig,
                       count(*) filter (where nivaa = 'kommune' and {m} is null)
                           as skjulte_deler
                    from {fq} where nivaa in ('fylke', 'kommune') group by {group}"""
            )
    # a measure that is the sum of other measures in the same row
    for total, members in t.measure_parts:
        if total not in cols or not set(members) <= set(cols):
            continue
        key = "concat_ws('|', " + ", ".join(f"{_q(c)}::varchar" for c in grain) + ")"
        hidden = " + ".join(f"({_q(m)} is null)::int" for m in members)
        parts.append(
            f"""select '{t.name}' as tabell, '{total}' as maal, 'maal' as dim,
                   {key} as gruppe, {_q(total)} is not null as total_synlig,
                   {hidden} as skjulte_deler
                from {fq}"""
        )
    return " union all ".join(parts)


def build_after_suppression(
    con: duckdb.DuckDBPyConnection, settings: Settings, schema: str = "statistikk"
) -> list[Check]:
    threshold = int(settings.suppression_threshold)
    small = list(range(1, threshold))
    min_den = int(settings.min_share_denominator)
    checks: list[Check] = []
    secondary: list[pd.DataFrame] = []
    for t in PUBLISHED_TABLES.values():
        cols = _columns(con, schema, t.name)
        idents = [c for c in cols if c.lower() in IDENTIFIER_COLUMNS]
        label = f"columns of {schema}.{t.name}"
        if idents:
            label = f"identifier column(s) {', '.join(idents)} in {schema}.{t.name}"
        exps = [
            gxe.ExpectTableColumnsToMatchSet(
                column_set=list(t.columns),
                exact_match=True,
                meta={"severity": HARD, "label": label},
            )
        ]
        if not cols:
            checks.append(Check(t.name, pd.DataFrame({"tabell_mangler": []}), exps))
            continue
        frame = con.execute(f"select * from {schema}.{t.name}").df()
        for c in t.counts:
            if c in cols:
                exps.append(
                    gxe.ExpectColumnValuesToNotBeInSet(
                        column=c,
                        value_set=small,
                        meta={
                            "severity": HARD,
                            "label": f"{t.name}.{c} visible below {threshold}",
                        },
                    )
                )
        hidden = [c for c in t.counts if c in cols]  # a share may be empty for its denominator
        if hidden and "prikket" in cols:
            exps.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column="prikket",
                    value_set=[True],
                    row_condition=_any_null(hidden),
                    meta={"severity": HARD, "label": f"{t.name}: hidden cell not flagged prikket"},
                )
            )
        for measure, count in t.hidden_with:
            if measure in cols and count in cols:
                exps.append(
                    gxe.ExpectColumnValuesToBeNull(
                        column=measure,
                        row_condition=Column(count).is_null(),
                        meta={
                            "severity": HARD,
                            "label": f"{t.name}.{measure} shown where {count} is hidden",
                        },
                    )
                )
        for share, den in t.shares.items():
            if share not in cols:
                continue
            exps.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=share,
                    min_value=0,
                    max_value=SHARE_MAX,
                    meta={"severity": HARD, "label": f"{t.name}.{share} in [0, {SHARE_MAX:g}]"},
                )
            )
            if den in cols:
                exps.append(
                    gxe.ExpectColumnValuesToBeNull(
                        column=share,
                        row_condition=Column(den).is_null() | (Column(den) < min_den),
                        meta={
                            "severity": HARD,
                            "label": f"{t.name}.{share} shown with {den} below {min_den}",
                        },
                    )
                )
        checks.append(Check(t.name, frame, exps))
        if t.name == "revisjoner" and {"maal", "forste_verdi", "endelig_verdi"} <= set(cols):
            counts = con.execute(
                f"select maal, forste_verdi, endelig_verdi from {schema}.revisjoner "
                "where maal not like 'andel%'"
            ).df()
            checks.append(
                Check(
                    "revisjoner_antall",
                    counts,
                    [
                        gxe.ExpectColumnValuesToNotBeInSet(
                            column=c,
                            value_set=[float(v) for v in small],
                            meta={
                                "severity": HARD,
                                "label": f"revisjoner.{c} visible below {threshold}",
                            },
                        )
                        for c in ("forste_verdi", "endelig_verdi")
                    ],
                )
            )
        sql = _secondary_sql(t, schema, cols, con)
        if sql:
            secondary.append(con.execute(sql).df())
    columns = ["tabell", "maal", "dim", "gruppe", "total_synlig", "skjulte_deler"]
    sec = pd.concat(secondary, ignore_index=True) if secondary else pd.DataFrame(columns=columns)
    sec["avledbar"] = [
        f"{r.tabell}.{r.maal} by {r.dim} [{r.gruppe}]"
        if bool(r.total_synlig) and int(r.skjulte_deler) == 1
        else None
        for r in sec.itertuples()
    ]
    sec["avledbar"] = sec["avledbar"].astype(object)
    checks.append(
        Check(
            "sekundaer_prikking",
            sec,
            [
                gxe.ExpectColumnValuesToBeNull(
                    column="avledbar",
                    meta={"severity": HARD, "label": "hidden value derivable from a shown total"},
                )
            ],
        )
    )
    return checks
