"""Completeness suite: is a loaded and built snapshot good enough to publish?

Hard (blocks publication), thresholds from the one configuration (``Settings``):

- national share of «ikke registrert» among programmes whose registration deadline has passed
  (``marts.fct_programmer.frist_passert``: dbt's macro ``registreringsfrist``), for each year
  the snapshot publishes:
  at most ``gate_max_ikke_registrert_share``;
- national share of spells with an ``error`` finding: at most ``gate_max_error_spell_share``.

Warning (never blocks: it goes to the kommune's control list): the same two shares per
programkommune.
"""

from __future__ import annotations

from datetime import date

import duckdb
import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from nir.checks import HARD, WARNING, Check
from nir.config import Settings


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def published_years(con: duckdb.DuckDBPyConnection, snapshot: date) -> list[int]:
    """The reference years the snapshot has results for."""
    if _has_table(con, "marts", "fct_resultater_aar"):
        rows = con.execute(
            "select distinct aar from marts.fct_resultater_aar where snapshot_date = ? order by 1",
            [snapshot],
        ).fetchall()
    else:
        rows = con.execute(
            "select distinct year(sluttdato) from marts.fct_programmer "
            "where snapshot_date = ? and sluttdato is not null order by 1",
            [snapshot],
        ).fetchall()
    return [int(r[0]) for r in rows]


def build(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    snapshot: date,
    exclude_years: set[int] | None = None,
) -> list[Check]:
    max_ir = settings.gate_max_ikke_registrert_share
    max_err = settings.gate_max_error_spell_share
    years = [y for y in published_years(con, snapshot) if y not in (exclude_years or set())]

    programmer = con.execute(
        """
        select year(sluttdato)::integer as aar,
               case when ikke_registrert then 1 else 0 end as ikke_registrert
        from marts.fct_programmer
        where snapshot_date = ? and frist_passert
        """,
        [snapshot],
    ).df()
    years_with_endings = set(programmer["aar"].unique().tolist()) if len(programmer) else set()

    prog_exps = []
    for y in years:
        if y not in years_with_endings:
            continue
        prog_exps.append(
            gxe.ExpectColumnMeanToBeBetween(
                column="ikke_registrert",
                min_value=0,
                max_value=max_ir,
                row_condition=Column("aar") == int(y),
                meta={"severity": HARD, "label": f"share ikke registrert {y}", "format": "share"},
            )
        )

    spells = con.execute(
        """
        select case when har_error_funn then 1 else 0 end as har_error_funn
        from marts.fct_deltakelser where snapshot_date = ?
        """,
        [snapshot],
    ).df()
    spell_exps = [
        gxe.ExpectTableRowCountToBeBetween(
            min_value=1, meta={"severity": HARD, "label": "spells in the snapshot"}
        ),
        gxe.ExpectColumnMeanToBeBetween(
            column="har_error_funn",
            min_value=0,
            max_value=max_err,
            meta={"severity": HARD, "label": "share spells with error finding", "format": "share"},
        ),
    ]

    # the same rows as the two frames above, per programkommune (the frames carry only what
    # the national expectations read: GX hashes and filters every column of a frame)
    kommuner = con.execute(
        """
        with p as (
            select programkommune,
                   avg(case when ikke_registrert then 1 else 0 end) as andel_ikke_registrert
            from marts.fct_programmer
            where snapshot_date = $snapshot and frist_passert
            group by programkommune
        ), s as (
            select programkommune,
                   avg(case when har_error_funn then 1 else 0 end) as andel_error
            from marts.fct_deltakelser where snapshot_date = $snapshot
            group by programkommune
        )
        select coalesce(p.programkommune, s.programkommune) as programkommune,
               p.andel_ikke_registrert, s.andel_error
        from p full join s on p.programkommune = s.programkommune
        order by 1
        """,
        {"snapshot": snapshot},
    ).df()
    # One column per kommune check: the kommune's number, name of the check and share where it
    # is above the limit, else empty; GX's pages and our messages then list the kommuner
    # themselves ("4602: ikke registrert 10.0% > 5.0%"), never bare fractions.
    kommuner["ikke_registrert_over_grense"] = [
        _over(r.programkommune, "ikke registrert", r.andel_ikke_registrert, max_ir)
        for r in kommuner.itertuples()
    ]
    kommuner["error_over_grense"] = [
        _over(r.programkommune, "error spells", r.andel_error, max_err)
        for r in kommuner.itertuples()
    ]
    kommune_exps = [
        gxe.ExpectColumnValuesToBeNull(
            column="ikke_registrert_over_grense",
            meta={
                "severity": WARNING,
                "label": "kommuner above the ikke registrert share",
            },
        ),
        gxe.ExpectColumnValuesToBeNull(
            column="error_over_grense",
            meta={
                "severity": WARNING,
                "label": "kommuner above the error spell share",
            },
        ),
    ]
    return [
        Check("programmer", programmer, prog_exps),
        Check("deltakelser", spells, spell_exps),
        Check("kommuner", kommuner, kommune_exps),
    ]


def _over(kommune: object, what: str, share: object, limit: float) -> str | None:
    """``"4602: ikke registrert 10.0% > 5.0%"`` when ``share`` is above ``limit``, else None."""
    try:
        value = float(share)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if value != value or value <= limit:
        return None
    return f"{kommune}: {what} {_pct(value)} > {_pct(limit)}"


def _pct(v: object) -> str:
    try:
        return f"{float(v):.1%}" if v is not None and v == v else "-"
    except (TypeError, ValueError):
        return "-"
