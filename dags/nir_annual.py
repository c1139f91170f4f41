"""
### nir_annual — final figures after the annual registration deadline

Figures for reference year Y are preliminary until the annual deadline (28/29 February of
Y + 1, configurable); the first monthly snapshot after it (1 March) gives the **final**
figures, which are frozen, and the revisions from the first preliminary value are published.

Scheduled on the published-statistics asset: it runs after each `nir_monthly` publication, so
never before the 1 March snapshot is published. `which_years` derives the years to freeze
(see `nir.periods.annual_years`): the years whose final snapshot was just published (usually
none: the run then skips), or the `year` param of a manual run (`{"year": 2023}`); a manual
run without it freezes the newest year whose final snapshot date has passed.
"""

from __future__ import annotations

from datetime import date

import pendulum
from _nir_common import DEFAULT_ARGS, DUCKDB_POOL, FINAL, PUBLISHED, fail_fast, settings
from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from nir import periods, pipeline


@dag(
    dag_id="nir_annual",
    schedule=[PUBLISHED],
    start_date=pendulum.datetime(2015, 1, 1, tz="UTC"),  # catchup=False; allows backfills
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "year": Param(
            None,
            type=["null", "integer"],
            description="Reference year to freeze; empty: derived from the publication.",
        )
    },
    doc_md=__doc__,
    tags=["nir", "annual"],
)
def nir_annual() -> None:
    @task
    def which_years() -> list[int]:
        ctx = get_current_context()
        published = [
            date.fromisoformat(str(event.extra["snapshot"]))
            for event in ctx["triggering_asset_events"].get(PUBLISHED, [])
            if event.extra and event.extra.get("snapshot")
        ]
        return periods.annual_years(
            override=ctx["params"].get("year"),
            published_snapshots=published,
            run_moment=ctx.get("logical_date") or ctx["dag_run"].run_after,
            deadline_for=settings().annual_deadline,
        )

    @task(pool=DUCKDB_POOL, outlets=[FINAL])
    def freeze(years: list[int]) -> list[int]:
        if not years:
            raise AirflowSkipException("this publication finalises no reference year")
        for year in years:
            with fail_fast():
                pipeline.freeze(settings(), year)
        get_current_context()["outlet_events"][FINAL].extra = {"years": years}
        return years

    freeze(which_years())


nir_annual()
