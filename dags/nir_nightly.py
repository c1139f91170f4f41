"""
### nir_nightly — registration controls on the daily NIR export

Runs every night at 00:00 UTC except on the 1st (that night's delivery is the monthly one,
handled by `nir_monthly`), for the **daily delivery** dated that night:

1. `which_snapshot` — the run's date in Norway, or the `snapshot` param of a manual run;
2. `wait_for_delivery` — sensor (reschedule mode, every 10 min, up to 12 hours);
3. `check_contract` — a bad delivery is quarantined and the run fails at once;
4. `load` (held, failing the run, when the delivery is empty, dated after today or far
   smaller than the previous snapshot; run conf `{"accept_anomaly": true}` loads it) →
   `controls` (dbt, only what the registration controls need) → `control_lists`.

Kommuner follow their registration errors day by day during correction windows. This DAG
**never publishes statistics**. DuckDB-writing tasks share the `nir_duckdb` pool with
`nir_monthly`, so a nightly run never writes the warehouse at the same time as a monthly one.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from _nir_common import DEFAULT_ARGS, DUCKDB_POOL, as_date, fail_fast, settings
from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

from nir import periods, pipeline


@dag(
    dag_id="nir_nightly",
    schedule=CronTriggerTimetable("0 0 2-31 * *", timezone="UTC"),
    start_date=pendulum.datetime(2015, 1, 1, tz="UTC"),  # catchup=False; allows backfills
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "snapshot": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Daily delivery to process (YYYY-MM-DD); empty: the run's date.",
        ),
        "accept_anomaly": Param(
            False,
            type="boolean",
            description="Load the delivery even if it is empty, dated after today or far "
            "smaller than the previous snapshot (held otherwise: the run fails and says so).",
        ),
    },
    doc_md=__doc__,
    tags=["nir", "nightly"],
)
def nir_nightly() -> None:
    @task
    def which_snapshot() -> str:
        ctx = get_current_context()
        snapshot = periods.nightly_snapshot(
            ctx.get("logical_date"), ctx["dag_run"].run_after, ctx["params"].get("snapshot")
        )
        return snapshot.isoformat()

    @task.sensor(
        mode="reschedule", poke_interval=timedelta(minutes=10), timeout=timedelta(hours=12)
    )
    def wait_for_delivery(snapshot: str) -> bool:
        return pipeline.delivery_ready(settings(), as_date(snapshot))

    @task(retries=0)
    def check_contract(snapshot: str) -> None:
        with fail_fast():
            pipeline.check_contract(settings(), as_date(snapshot))

    @task(pool=DUCKDB_POOL)
    def load(snapshot: str) -> str:
        accept = bool(get_current_context()["params"].get("accept_anomaly"))
        with fail_fast():
            return pipeline.load(settings(), as_date(snapshot), accept_anomaly=accept)

    @task(pool=DUCKDB_POOL, execution_timeout=timedelta(hours=1))
    def controls(snapshot: str) -> None:
        with fail_fast():
            pipeline.build(settings(), as_date(snapshot), controls_only=True)

    @task(pool=DUCKDB_POOL)
    def control_lists(snapshot: str) -> str:
        with fail_fast():
            return str(pipeline.control_lists(settings(), as_date(snapshot)))

    snapshot = which_snapshot()
    (
        wait_for_delivery(snapshot)
        >> check_contract(snapshot)
        >> load(snapshot)
        >> controls(snapshot)
        >> control_lists(snapshot)
    )


nir_nightly()
