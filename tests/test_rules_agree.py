"""The date rules dbt and the package both apply give the same dates.

The deadline of a reference year, its final snapshot and the period a snapshot reports on are
read by dbt (macros ``frist``, ``endelig_snapshot`` and ``periode`` decide the published status
and which year is frozen) and by the package (``Settings.annual_deadline`` and ``nir.periods``
decide which years ``nir_annual`` freezes, the kommune packs' deadline and the run's period).
Both take the deadline from the one setting (``annual_deadline_month``/``_day``, passed to dbt
as vars by ``dbt_vars``); these tests render the macros as dbt does (Jinja, the vars from
``dbt_vars``) and run them in DuckDB against the Python for every year and several deadlines,
so neither side can change alone.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import jinja2
import pytest

from nir.config import load_settings
from nir.periods import final_snapshot, period_of, years_finalised_by
from nir.warehouse.dbt import dbt_vars

MACROS = Path(__file__).parents[1] / "dbt_project" / "macros" / "nir.sql"
YEARS = range(2015, 2041)  # leap and common years on both sides of every deadline


def render(expression: str, variables: dict[str, object]) -> str:
    """``expression`` (Jinja calling the project's macros) rendered to SQL, as dbt would."""

    def var(name: str, default: object = None) -> object:
        return variables.get(name, default)

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string(MACROS.read_text(encoding="utf-8") + expression).render(var=var).strip()


DEADLINES = [
    pytest.param(2, None, id="end-of-february"),  # the default: 28 or 29 February
    pytest.param(3, 15, id="15-march"),
    pytest.param(3, None, id="end-of-march"),
    pytest.param(1, 31, id="31-january"),
    pytest.param(12, 31, id="31-december"),  # the final snapshot falls two years later
    pytest.param(6, 1, id="1-june"),  # a deadline on a snapshot day: the next month's
]


@pytest.mark.parametrize(("month", "day"), DEADLINES)
def test_deadline_and_final_snapshot_agree(month: int, day: int | None) -> None:
    settings = load_settings(annual_deadline_month=month, annual_deadline_day=day)
    sql = render(
        "select aar, {{ frist('aar') }} as frist, {{ endelig_snapshot('aar') }} as endelig "
        "from range(" + f"{YEARS.start}, {YEARS.stop}" + ") t(aar) order by aar",
        dbt_vars(settings),
    )
    rows = duckdb.sql(sql).fetchall()
    assert [r[0] for r in rows] == list(YEARS)
    for aar, frist, endelig in rows:
        assert frist == settings.annual_deadline(aar), aar
        assert endelig == final_snapshot(aar, settings.annual_deadline), aar
        # and the annual DAG freezes exactly that year from exactly that snapshot
        assert years_finalised_by([endelig], settings.annual_deadline) == [aar]
        assert years_finalised_by([endelig - timedelta(days=1)], settings.annual_deadline) == []


def test_period_of_a_monthly_snapshot_agrees() -> None:
    """``period_of`` is defined on monthly snapshots (the 1st); so is the comparison. (On a
    nightly snapshot the macro gives the month of the day before it, which only
    ``registreringskvalitet`` asks for, and only for its year.)"""
    snapshots = [date(2015 + m // 12, m % 12 + 1, 1) for m in range(12 * 26)]
    sql = render(
        "select d, {{ periode('d') }} from unnest($days) t(d) order by d",
        dbt_vars(load_settings()),
    )
    rows = duckdb.execute(sql, {"days": snapshots}).fetchall()
    assert len(rows) == len(snapshots)
    for day, periode in rows:
        assert periode == period_of(day), day
