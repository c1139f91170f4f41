"""The Airflow DAGs: they import, are wired as documented, and run for real under Airflow."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="module")
def dagbag(airflow_home: Path) -> Any:
    # BundleDagBag is what the dag-processor and `airflow dags test` use: it puts the bundle
    # (the DAGs folder) on sys.path, so the DAG files can import their helper module.
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(
        dag_folder=str(DAGS_FOLDER), bundle_path=DAGS_FOLDER, bundle_name="dags-folder"
    )


def test_every_dag_file_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"nir_monthly", "nir_nightly", "nir_annual"}


def test_dags_serialise_for_the_scheduler(dagbag: Any) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dagbag.dags.values():
        restored = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
        assert set(restored.task_dict) == set(dag.task_dict)


@pytest.mark.parametrize("dag_id", ["nir_monthly", "nir_nightly", "nir_annual"])
def test_each_dag_has_docs_one_active_run_and_no_catchup(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and dag_id in dag.doc_md
    assert dag.max_active_runs == 1
    assert dag.catchup is False


def test_monthly_runs_on_the_first_at_midnight_utc(dagbag: Any) -> None:
    from airflow.sdk import CronTriggerTimetable

    timetable = dagbag.dags["nir_monthly"].timetable
    assert isinstance(timetable, CronTriggerTimetable)
    assert "expression='0 0 1 * *'" in repr(timetable)
    assert "timezone='UTC'" in repr(timetable)  # nir.periods.logical_date_for relies on it
    nightly = dagbag.dags["nir_nightly"].timetable
    assert "expression='0 0 2-31 * *'" in repr(nightly)  # the 1st is the monthly delivery


def _downstream_closure(dag: Any, task_id: str) -> set[str]:
    return {t.task_id for t in dag.get_task(task_id).get_flat_relatives(upstream=False)}


def test_monthly_gate_runs_before_publish_and_after_build(dagbag: Any) -> None:
    dag = dagbag.dags["nir_monthly"]
    order = ["wait_for_delivery", "check_contract", "load", "build", "gate", "publish", "docs"]
    for earlier, later in itertools.pairwise(order):
        assert later in dag.get_task(earlier).downstream_task_ids
    # publish is reachable only through the gate
    assert dag.get_task("publish").upstream_task_ids - {"which_snapshot"} == {"gate"}


def test_control_lists_do_not_wait_for_the_gate(dagbag: Any) -> None:
    # kommune findings never block publication, and a failed gate still gives control lists
    dag = dagbag.dags["nir_monthly"]
    assert "build" in dag.get_task("control_lists").upstream_task_ids
    assert "control_lists" not in _downstream_closure(dag, "gate")


def test_nightly_never_publishes(dagbag: Any) -> None:
    dag = dagbag.dags["nir_nightly"]
    assert "publish" not in dag.task_ids
    assert all(not t.outlets for t in dag.tasks)
    assert list(dag.task_ids) == [
        "which_snapshot",
        "wait_for_delivery",
        "check_contract",
        "load",
        "controls",
        "control_lists",
    ]


def test_delivery_sensor_reschedules_with_a_timeout(dagbag: Any) -> None:
    for dag_id in ("nir_monthly", "nir_nightly"):
        sensor = dagbag.dags[dag_id].get_task("wait_for_delivery")
        assert sensor.mode == "reschedule"
        assert 0 < sensor.timeout <= timedelta(days=2).total_seconds()
        assert sensor.poke_interval >= 60


def test_duckdb_writers_share_a_pool_of_one(dagbag: Any) -> None:
    writers = {
        "nir_monthly": {"load", "build", "gate", "publish", "docs", "control_lists"},
        "nir_nightly": {"load", "controls", "control_lists"},
        "nir_annual": {"freeze"},
    }
    for dag_id, task_ids in writers.items():
        for task in dagbag.dags[dag_id].tasks:
            assert (task.pool == "nir_duckdb") == (task.task_id in task_ids), task.task_id


def test_transient_steps_retry_with_backoff_but_contract_check_does_not(dagbag: Any) -> None:
    dag = dagbag.dags["nir_monthly"]
    for task_id in ("load", "build", "publish"):
        task = dag.get_task(task_id)
        assert task.retries >= 2
        assert task.retry_exponential_backoff > 1
    assert dag.get_task("check_contract").retries == 0


def test_non_transient_package_errors_fail_without_retry() -> None:
    import sys

    from airflow.sdk.exceptions import AirflowFailException

    sys.path.insert(0, str(DAGS_FOLDER))
    try:
        from _nir_common import fail_fast
    finally:
        sys.path.remove(str(DAGS_FOLDER))
    from nir.errors import ContractError, WarehouseBusyError

    with pytest.raises(AirflowFailException, match="rejected"), fail_fast():
        raise ContractError("2024-02-01", ["manifest.json is missing"])
    with pytest.raises(WarehouseBusyError), fail_fast():  # transient: keeps its retries
        raise WarehouseBusyError("busy")


def test_publish_emits_the_asset_that_schedules_the_annual_dag(dagbag: Any) -> None:
    publish = dagbag.dags["nir_monthly"].get_task("publish")
    assert [a.uri for a in publish.outlets] == ["nir://published/statistikk"]
    annual = dagbag.dags["nir_annual"]
    assert "nir://published/statistikk" in repr(annual.timetable)
    assert annual.get_task("freeze").upstream_task_ids == {"which_years"}


def test_backfills_can_reach_back_before_the_demo_periods(dagbag: Any) -> None:
    # a run whose logical date is before start_date has no task instances and "succeeds"
    import pendulum

    for dag in dagbag.dags.values():
        assert dag.start_date <= pendulum.datetime(2020, 1, 1, tz="UTC")


# --- end to end: the real DAGs under Airflow (dags test machinery, SQLite metadata) ----------
MONTHLY_TASKS = {
    "which_snapshot",
    "wait_for_delivery",
    "check_contract",
    "load",
    "build",
    "gate",
    "publish",
    "docs",
    "control_lists",
}


def _connect_published(settings: Any) -> Any:
    """The published database, read-only, in its schema ``statistikk``."""
    import duckdb

    con = duckdb.connect(str(settings.published_db), read_only=True)
    con.execute("use statistikk")
    return con


def _published(settings: Any) -> dict[str, list[tuple]]:
    """Every published table, rows sorted: what analysts see."""
    from nir.status import published_tables

    con = _connect_published(settings)
    try:
        return {
            t: sorted(con.execute(f"select * from {t}").fetchall(), key=repr)
            for t in published_tables(con)
        }
    finally:
        con.close()


def _difference(got: dict[str, list[tuple]], expected: dict[str, list[tuple]]) -> str:
    """Which published tables differ, with an example row from each side."""
    lines = []
    for table in sorted(set(got) | set(expected)):
        a, b = set(got.get(table, [])), set(expected.get(table, []))
        if a != b:
            lines.append(
                f"{table}: {len(a - b)} rows only here, {len(b - a)} only there, e.g. "
                f"{sorted(a - b, key=repr)[:1]} vs {sorted(b - a, key=repr)[:1]}"
            )
    return "\n".join(lines)


def _new_setup(root: Path) -> Any:
    from nir.config import load_settings
    from nir.tools.generate import generate

    # the flow and its reruns are under test, not the threshold: in a register of 600 persons
    # the oldest years have a handful of endings each (as in test_publish_e2e)
    settings = load_settings(data_dir=root / "data", gate_max_ikke_registrert_share=0.25)
    generate(settings.landing, persons=600, start="2024-02", end="2024-03", seed=5, daily=1)
    return settings


def _assert_all_succeeded(settings: Any, outcomes: list[Any]) -> None:
    from nir.orchestration import embedded as orchestrate

    bad = [(o.request.label, o.state, o.failed_tasks, o.error) for o in outcomes if not o.ok]
    assert not bad, f"{bad} (task logs: {orchestrate.run_log(settings)})"


@pytest.fixture(scope="module")
def forward(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[Any]]:
    """Periods 2024-02..2024-03 backfilled in order through nir_monthly (snapshot 2024-03-01
    finalises 2023)."""
    from nir.orchestration import embedded as orchestrate

    settings = _new_setup(tmp_path_factory.mktemp("forward"))
    outcomes = orchestrate.backfill(settings, "2024-02", "2024-03")
    return settings, outcomes


@pytest.mark.integration
def test_monthly_backfill_runs_every_task_of_the_dag(forward: tuple[Any, list[Any]]) -> None:
    settings, outcomes = forward
    _assert_all_succeeded(settings, outcomes)
    assert [o.request.label for o in outcomes] == ["2024-02", "2024-03"]
    for o in outcomes:
        assert o.task_states == dict.fromkeys(MONTHLY_TASKS, "success")
    snapshots = {row[0] for row in duckdb_column(settings, "deltakelse_aar", "snapshot_date")}
    assert max(snapshots).isoformat() == "2024-04-01"


def duckdb_column(settings: Any, table: str, column: str) -> list[tuple]:
    con = _connect_published(settings)
    try:
        return con.execute(f"select distinct {column} from {table}").fetchall()
    finally:
        con.close()


@pytest.mark.integration
def test_repeated_backfill_gives_identical_published_figures(
    forward: tuple[Any, list[Any]],
) -> None:
    from nir.orchestration import embedded as orchestrate

    settings, _ = forward
    before = _published(settings)
    _assert_all_succeeded(settings, orchestrate.backfill(settings, "2024-02", "2024-03"))
    after = _published(settings)
    assert after == before, _difference(after, before)


REFERENCE = Path(__file__).parent / "fixtures" / "published_reference.json"


@pytest.mark.integration
def test_published_figures_equal_the_recorded_reference(forward: tuple[Any, list[Any]]) -> None:
    """The published result of a fixed run (600 persons, seed 5, periods 2024-02..2024-03,
    through the DAGs) is recorded per table (`nir status --digest`): a change made for speed,
    structure or style must publish the same figures. A change meant to alter figures
    re-records it, `NIR_RECORD_REFERENCE=1 pytest tests/test_dags.py -k reference`, and says
    why in its commit."""
    import json
    import os

    from nir.status import published_digest

    settings, outcomes = forward
    _assert_all_succeeded(settings, outcomes)
    got = published_digest(settings.published_db)
    if os.environ.get("NIR_RECORD_REFERENCE") == "1":
        REFERENCE.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(REFERENCE.read_text(encoding="utf-8"))
    changed = {t for t in set(got) | set(expected) if got.get(t) != expected.get(t)}
    assert not changed, f"published tables differ from {REFERENCE.name}: {sorted(changed)}"


@pytest.mark.integration
def test_out_of_order_backfill_gives_identical_published_figures(
    forward: tuple[Any, list[Any]], tmp_path: Path
) -> None:
    from nir.orchestration import embedded as orchestrate

    settings, _ = forward
    other = _new_setup(tmp_path)
    _assert_all_succeeded(other, orchestrate.backfill(other, "2024-02", "2024-03", reverse=True))
    reverse, in_order = _published(other), _published(settings)
    assert reverse == in_order, _difference(reverse, in_order)


@pytest.mark.integration
def test_annual_freezes_and_nightly_never_publishes(forward: tuple[Any, list[Any]]) -> None:
    from datetime import date

    from nir.orchestration import embedded as orchestrate

    settings, _ = forward
    before = _published(settings)
    outcomes = orchestrate.run(
        settings,
        [orchestrate.annual_request(settings, 2023), orchestrate.nightly_request(date(2024, 4, 2))],
    )
    _assert_all_succeeded(settings, outcomes)
    annual, nightly = outcomes
    assert annual.task_states == {"which_years": "success", "freeze": "success"}
    assert set(nightly.task_states.values()) == {"success"}
    assert "publish" not in nightly.task_states
    statuses = dict(duckdb_column(settings, "deltakelse_aar", "aar, status"))
    assert statuses[2023] == "endelig"
    assert statuses[2024] == "forelopig"
    assert _published(settings) == before  # freezing again and the nightly change nothing


@pytest.mark.integration
def test_bad_delivery_fails_the_run_at_the_contract_check(tmp_path: Path) -> None:
    from datetime import date

    from nir import pipeline
    from nir.config import load_settings
    from nir.orchestration import embedded as orchestrate
    from nir.tools.generate import generate

    settings = load_settings(data_dir=tmp_path / "data")
    generate(settings.landing, persons=50, start="2024-01", end="2024-01", seed=2, daily=0)
    delivery = pipeline.delivery_dir(settings, date(2024, 2, 1))
    with (delivery / "deltakelser.csv").open("ab") as f:
        f.write(b"not;a;valid;row\n")  # breaks the manifest's row count and checksum

    orchestrate.prepare(settings)
    [outcome] = orchestrate.run(settings, orchestrate.monthly_requests([date(2024, 2, 1)]))

    assert outcome.state == "failed"
    assert outcome.task_states["check_contract"] == "failed"
    assert outcome.task_states["load"] == "upstream_failed"
    assert outcome.task_states["publish"] == "upstream_failed"
    assert outcome.error and "rejected" in outcome.error
    assert not settings.published_db.exists()


@pytest.mark.integration
def test_missing_delivery_reschedules_the_sensor_until_it_times_out(tmp_path: Path) -> None:
    from datetime import date

    from nir.config import load_settings
    from nir.orchestration import embedded as orchestrate

    # the embedded sensor's wait, shortened from 20 s: it pokes every second for 4 s
    settings = load_settings(data_dir=tmp_path / "data", embedded_sensor_timeout=4)
    orchestrate.prepare(settings)
    [outcome] = orchestrate.run(settings, orchestrate.monthly_requests([date(2024, 2, 1)]))

    assert outcome.state == "failed"
    assert outcome.task_states["wait_for_delivery"] == "failed"
    assert outcome.task_states["check_contract"] == "upstream_failed"
    assert "reschedul" in orchestrate.run_log(settings).read_text().lower()


@pytest.mark.integration
def test_a_new_data_folder_gets_the_migrated_database_without_running_airflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`prepare` runs `airflow db migrate` and `pools set` once per Airflow version and
    copies the result into every new data folder; a database at that revision is left
    alone, and one at another revision goes through the CLI."""
    import sqlite3

    from nir.config import load_settings
    from nir.orchestration import embedded as orchestrate

    monkeypatch.setenv("NIR_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[tuple[str, ...]] = []
    real = orchestrate._airflow_cli
    monkeypatch.setattr(
        orchestrate, "_airflow_cli", lambda s, *args: calls.append(args) or real(s, *args)
    )
    first = load_settings(data_dir=tmp_path / "one")
    orchestrate.prepare(first)
    assert [c[:2] for c in calls] == [("db", "migrate"), ("pools", "set")]
    revision = orchestrate._revision(first.data_dir / "airflow" / "airflow.db")
    assert revision  # migrated, with the pool

    calls.clear()
    second = load_settings(data_dir=tmp_path / "two")
    orchestrate.prepare(second)
    orchestrate.prepare(first)
    assert calls == []
    db = second.data_dir / "airflow" / "airflow.db"
    assert orchestrate._revision(db) == revision
    assert db.stat().st_mode & 0o777 == 0o600

    # a database at another revision than the kept one goes through the CLI (here the kept
    # copy is made to look newer, as after an upgrade that kept the same version string)
    with sqlite3.connect(orchestrate._template()) as con:
        con.execute("update alembic_version set version_num = 'newer'")
    orchestrate.prepare(second)
    assert [c[:2] for c in calls] == [("db", "migrate"), ("pools", "set")]


def test_the_deployment_executor_preloads_what_the_tasks_import() -> None:
    """docker-compose.yml runs the LocalExecutor subclass that imports dbt and GX before it
    forks its workers (nir.orchestration.executor); a module that cannot be imported is
    reported, not fatal to the scheduler."""
    import yaml
    from airflow.executors.local_executor import LocalExecutor

    from nir.orchestration import executor

    compose = yaml.safe_load((DAGS_FOLDER.parent / "docker-compose.yml").read_text("utf-8"))
    name = compose["x-airflow-env"]["AIRFLOW__CORE__EXECUTOR"]
    assert name == "nir.orchestration.executor.PreloadingLocalExecutor"
    assert issubclass(executor.PreloadingLocalExecutor, LocalExecutor)
    assert executor.preload(("json", "nir.no_such_module")) == ["nir.no_such_module"]
    assert executor.preload() == []  # every module named exists
