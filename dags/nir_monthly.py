"""
### nir_monthly — monthly statistics from the monthly NIR export

Runs at 00:00 UTC on the 1st of each month for the **monthly snapshot** dated that day, which
is the export for the **previous month** (snapshot 2024-02-01 = period 2024-01):

1. `which_snapshot` — derive the snapshot (see `nir.periods.monthly_snapshot`): the 1st of the
   run's month in Norway, or the `snapshot` param of a manual run (`{"snapshot": "2024-02-01"}`);
2. `wait_for_delivery` — sensor (reschedule mode, every 10 min, up to 2 days) until the
   delivery's manifest is written;
3. `check_contract` — validate the delivery against export contract v1; a bad delivery is
   quarantined and the run fails at once (no retries);
4. `load` (a delivery that is empty, dated after today or far smaller than the previous
   snapshot is held: the run fails and says so; trigger it with the run conf
   `{"accept_anomaly": true}` to load it anyway) → `build` (dbt, for this snapshot) →
   `gate` (completeness and publication suites) → `publish` (write-audit-publish; outlet:
   the published-statistics asset, which schedules `nir_annual`) → `docs` (the offline docs
   in `data/docs/`: dbt's docs, regenerated only when the project changed, and the gate's
   page per snapshot; a failed gate or publication rewrites the gate's pages itself, since
   the run stops there);
5. `control_lists` — the kommuner's control lists, written even when the gate fails.

Tasks that write DuckDB run in the `nir_duckdb` pool (one slot) and the DAG allows one active
run: DuckDB has a single writer per file. Every step is idempotent, so a backfill
(`airflow backfill create --dag-id nir_monthly --from-date 2023-02-01 --to-date 2023-04-01`,
or `nir backfill --from 2023-01 --to 2023-03`) can be repeated or run out of order.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from _nir_common import DEFAULT_ARGS, DUCKDB_POOL, PUBLISHED, as_date, fail_fast, settings
from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

from nir import periods, pipeline


@dag(
    dag_id="nir_monthly",
    schedule=CronTriggerTimetable("0 0 1 * *", timezone="UTC"),
    start_date=pendulum.datetime(2015, 1, 1, tz="UTC"),  # catchup=False; allows backfills
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "snapshot": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Monthly snapshot to process (YYYY-MM-01); empty: the run's month.",
        ),
        "accept_anomaly": Param(
            False,
            type="boolean",
            description="Load the delivery even if it is empty, dated after today or far "
            "smaller than the previous snapshot (held otherwise: the run fails and says so).",
        ),
    },
    doc_md=__doc__,
    tags=["nir", "monthly"],
)
def nir_monthly() -> None:
    @task
    def which_snapshot() -> str:
        ctx = get_current_context()
        snapshot = periods.monthly_snapshot(
            ctx.get("logical_date"), ctx["dag_run"].run_after, ctx["params"].get("snapshot")
        )
        print(f"snapshot {snapshot}, period {periods.period_of(snapshot)}")
        return snapshot.isoformat()

    @task.sensor(mode="reschedule", poke_interval=timedelta(minutes=10), timeout=timedelta(days=2))
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

    @task(pool=DUCKDB_POOL, execution_timeout=timedelta(hours=2))
    def build(snapshot: str) -> None:
        with fail_fast():
            pipeline.build(settings(), as_date(snapshot))

    @task(pool=DUCKDB_POOL)
    def gate(snapshot: str) -> None:
        with fail_fast():
            pipeline.gate(settings(), as_date(snapshot))

    @task(pool=DUCKDB_POOL, outlets=[PUBLISHED])
    def publish(snapshot: str) -> str:
        with fail_fast():
            path = pipeline.publish(settings(), as_date(snapshot))
        get_current_context()["outlet_events"][PUBLISHED].extra = {
            "snapshot": snapshot,
            "period": periods.period_of(as_date(snapshot)),
        }
        return str(path)

    @task(pool=DUCKDB_POOL)
    def docs(snapshot: str) -> str:
        with fail_fast():
            return str(pipeline.docs(settings(), as_date(snapshot)))

    @task(pool=DUCKDB_POOL)
    def control_lists(snapshot: str) -> str:
        with fail_fast():
            return str(pipeline.control_lists(settings(), as_date(snapshot)))

    snapshot = which_snapshot()
    built = build(snapshot)
    (
        wait_for_delivery(snapshot)
        >> check_contract(snapshot)
        >> load(snapshot)
        >> built
        >> gate(snapshot)
        >> publish(snapshot)
        >> docs(snapshot)
    )
    built >> control_lists(snapshot)


nir_monthly()
