"""Run the real DAGs under Airflow on the embedded default (no services to start).

``nir demo`` and ``nir backfill`` use this. Airflow lives under ``<data_dir>/airflow``
(``AIRFLOW_HOME``) with a SQLite metadata database; ``airflow db migrate`` creates it and the
``nir_duckdb`` pool is set, as in the deployment. Each DAG run is then executed the way
``airflow dags test <dag_id> <logical_date>`` executes it (``DAG.test()``: the scheduler's
dependency loop, tasks run in-process through the execution API, a sensor in reschedule
mode re-poked after its interval). All the runs of one call share one worker process, so
Airflow is imported and the DAGs parsed once, not once per run: the overhead is about 2 s to
start plus 1-2 s per run (measured on 2 cores), against about 5 s for each new
``airflow dags test`` process. Retries and sensor waits are shortened for interactive use
(``_embedded_profile``).

The worker process gets the same ``NIR_*`` settings as the caller (every field of
:class:`~nir.config.Settings`, paths made absolute), so the tasks see exactly the
configuration the command was given.

Pools and ``max_active_runs`` only matter to a scheduler; here the runs are sequential,
which gives the same guarantee: one DuckDB writer at a time.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from nir import periods
from nir.config import PROJECT_ROOT, Settings, cache_root, load_settings
from nir.errors import NirError

DAGS_FOLDER = PROJECT_ROOT / "dags"
DUCKDB_POOL = "nir_duckdb"
_MARK = "@@nir-orchestrate "
_TASK_START = "[DAG TEST] starting task_id="
_ERROR_LINE = re.compile(
    r"^(?:[A-Za-z_][\w.]*\.)?(\w*(?:Error|Exception|Failed|Timeout)\w*): (.+)$"
)

Event = dict[str, Any]
EventHandler = Callable[[Event], None]


class AirflowSetupError(NirError):
    """The embedded Airflow could not be prepared (migrate, pool)."""


@dataclass(frozen=True)
class RunRequest:
    """One DAG run: ``airflow dags test <dag_id> <logical_date> [-c conf]``."""

    dag_id: str
    logical_date: datetime
    label: str
    conf: dict[str, Any] | None = None


@dataclass
class RunOutcome:
    request: RunRequest
    state: str
    seconds: float
    task_states: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # the last error a task of the run logged, one line
    task_seconds: float = 0.0  # time inside the tasks; the rest is Airflow's overhead

    @property
    def ok(self) -> bool:
        return self.state == "success"

    @property
    def failed_tasks(self) -> list[str]:
        return [t for t, s in self.task_states.items() if s in ("failed", "upstream_failed")]


# --- environment -----------------------------------------------------------------------------
def airflow_home(settings: Settings) -> Path:
    return (settings.data_dir / "airflow").resolve()


def run_log(settings: Settings) -> Path:
    """Everything Airflow prints while running the DAGs (task logs included)."""
    return airflow_home(settings) / "logs" / "nir-runs.log"


def nir_environment(settings: Settings) -> dict[str, str]:
    """``NIR_*`` variables that reproduce ``settings`` in another process."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Path):
            value = value.resolve()
        env[f"NIR_{name.upper()}"] = str(value)
    return env


def airflow_environment(settings: Settings) -> dict[str, str]:
    """The environment of every Airflow process started for the embedded setup."""
    home = airflow_home(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(nir_environment(settings))
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            # task logs can quote what a task saw: owner-only, like the rest of data/
            "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
            "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _airflow_bin() -> str:
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"


def _airflow_cli(settings: Settings, *args: str) -> None:
    env = airflow_environment(settings)
    proc = subprocess.run(
        [_airflow_bin(), *args], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise AirflowSetupError(
            f"`airflow {' '.join(args)}` failed (exit {proc.returncode}): "
            + " | ".join(tail)
            + f" — AIRFLOW_HOME is {env['AIRFLOW_HOME']}"
        )


def _private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only; tighten it if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for p in (path, path.parent):
        p.chmod(0o700)
    return path


POOL_ARGS = (DUCKDB_POOL, "1", "Tasks that write DuckDB (single writer)")


def _template() -> Path:
    """Where a freshly migrated metadata database with the pool is kept, for this Airflow
    version and DAGs folder (:func:`nir.config.cache_root`, folder ``airflow-db``)."""
    from importlib.metadata import version

    key = [version("apache-airflow"), str(DAGS_FOLDER), *POOL_ARGS]
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]
    return cache_root() / "airflow-db" / digest / "airflow.db"


def _revision(db: Path) -> str | None:
    """The Alembic revision of an Airflow metadata database and whether it has the DuckDB
    pool: ``"<revision>"`` or None (no database, no revision or no pool)."""
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = con.execute("select version_num from alembic_version").fetchone()
        pool = con.execute("select slots from slot_pool where pool = ?", [DUCKDB_POOL]).fetchone()
    except sqlite3.Error:
        return None
    finally:
        con.close()
    return row[0] if row and pool and pool[0] == int(POOL_ARGS[1]) else None


def prepare(settings: Settings) -> Path:
    """Create or migrate the embedded metadata database and set the DuckDB pool.

    ``airflow db migrate`` and ``airflow pools set`` cost ~7 s in two processes even when
    there is nothing to do, and every new data folder (a demo, each test) needs them. The
    result for a new folder is always the same, so it is kept (:func:`_template`) and copied;
    a database already at the kept revision with the pool is left alone. Anything else (no
    copy kept yet, another Airflow version, an older database) goes through the CLI.
    """
    home = airflow_home(settings)
    _private_dir(home / "logs")
    db = home / "airflow.db"
    template = _template()
    kept = _revision(template) if template.is_file() else None
    if kept is not None:
        if not db.exists():
            _copy_whole(template, db)
            return home
        if _revision(db) == kept:
            return home
    fresh = not db.exists()
    _airflow_cli(settings, "db", "migrate")
    _airflow_cli(settings, "pools", "set", *POOL_ARGS)
    if fresh:  # keep the untouched result for the next new folder; a cache only
        with contextlib.suppress(OSError):
            template.parent.mkdir(parents=True, exist_ok=True)
            _copy_whole(db, template)
    return home


def _copy_whole(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` (owner-only) in whole or not at all."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, partial)
        partial.chmod(0o600)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


# --- run requests ------------------------------------------------------------------------------
def monthly_requests(snapshots: Iterable[date]) -> list[RunRequest]:
    """``nir_monthly`` runs at the logical dates the schedule gives those snapshots.

    No conf: the run derives its snapshot from its logical date, as a scheduled or
    ``airflow backfill create`` run does.
    """
    return [
        RunRequest("nir_monthly", periods.logical_date_for(s), label=periods.period_of(s))
        for s in snapshots
    ]


def annual_request(settings: Settings, year: int) -> RunRequest:
    """A ``nir_annual`` run freezing ``year``, dated on the year's final snapshot."""
    final = periods.final_snapshot(year, settings.annual_deadline)
    return RunRequest(
        "nir_annual", periods.logical_date_for(final), label=str(year), conf={"year": year}
    )


def nightly_request(snapshot: date) -> RunRequest:
    return RunRequest("nir_nightly", periods.logical_date_for(snapshot), label=str(snapshot))


# --- running -------------------------------------------------------------------------------------
def run(
    settings: Settings,
    requests: list[RunRequest],
    on_event: EventHandler | None = None,
) -> list[RunOutcome]:
    """Run ``requests`` in order, each as one ``dags test`` run, in one worker process.

    Call :func:`prepare` first. ``on_event`` receives ``{"event": "run-start" | "task" |
    "run-end", "index": i, ...}`` while the runs progress. Failed runs do not stop the
    others (every run handles a full snapshot); check :attr:`RunOutcome.ok`.
    """
    if not requests:
        return []
    notify = on_event or (lambda _event: None)
    spec = [
        {
            "dag_id": r.dag_id,
            "logical_date": r.logical_date.isoformat(),
            "conf": r.conf,
        }
        for r in requests
    ]
    log_path = run_log(settings)
    _private_dir(log_path.parent)
    log_path.touch(mode=0o600, exist_ok=True)
    log_path.chmod(0o600)
    outcomes: dict[int, RunOutcome] = {}
    errors: dict[int, str] = {}
    current = -1
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"\n===== nir orchestrate {datetime.now().isoformat()} =====\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "nir.orchestration.embedded"],
            env=airflow_environment(settings),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(spec))
        proc.stdin.close()
        try:
            for line in proc.stdout:
                if not line.startswith(_MARK):
                    log.write(line)
                    if m := _ERROR_LINE.match(line.strip()):
                        errors[current] = f"{m.group(1)}: {m.group(2)}"
                    if _TASK_START in line:
                        task_id = line.split(_TASK_START, 1)[1].split()[0]
                        notify({"event": "task", "index": current, "task_id": task_id})
                    continue
                event = json.loads(line[len(_MARK) :])
                current = event["index"]
                event["request"] = requests[current]
                if event["event"] == "run-end":
                    outcomes[current] = RunOutcome(
                        requests[current],
                        event["state"],
                        event["seconds"],
                        event["tasks"],
                        error=errors.get(current) if event["state"] != "success" else None,
                        task_seconds=event.get("task_seconds", 0.0),
                    )
                    event["outcome"] = outcomes[current]
                notify(event)
        finally:
            returncode = proc.wait()
    missing = [i for i in range(len(requests)) if i not in outcomes]
    if missing:
        raise AirflowSetupError(
            f"the Airflow worker stopped (exit {returncode}) before run "
            f"{requests[missing[0]].dag_id} {requests[missing[0]].label}: see {log_path}"
        )
    return [outcomes[i] for i in range(len(requests))]


def backfill(
    settings: Settings,
    first: str,
    last: str,
    *,
    reverse: bool = False,
    on_event: EventHandler | None = None,
) -> list[RunOutcome]:
    """Run ``nir_monthly`` for the periods ``first``..``last`` (``YYYY-MM``)."""
    snapshots = periods.snapshots_for_periods(first, last)
    if reverse:
        snapshots.reverse()
    prepare(settings)
    return run(settings, monthly_requests(snapshots), on_event)


def missing_deliveries(settings: Settings, snapshots: Iterable[date]) -> list[date]:
    """Snapshots whose delivery is not (completely) in the landing area."""
    from nir import pipeline

    return [s for s in snapshots if not pipeline.delivery_ready(settings, s)]


def demo_requests(
    settings: Settings, snapshots: list[date], daily: list[date] | None = None
) -> list[RunRequest]:
    """``nir_monthly`` for every monthly snapshot and ``nir_nightly`` for every daily one, in
    date order (the nights before a deadline give the tracker its points), then
    ``nir_annual`` once for the newest year they finalise."""
    runs = sorted(
        [(s, r) for s, r in zip(snapshots, monthly_requests(snapshots), strict=True)]
        + [(d, nightly_request(d)) for d in daily or []],
        key=lambda pair: pair[0],
    )
    requests = [r for _, r in runs]
    years = periods.years_finalised_by(snapshots, settings.annual_deadline)
    requests += [annual_request(settings, y) for y in years[-1:]]
    return requests


# --- the worker process ------------------------------------------------------------------
def _emit(event: Event) -> None:
    print(_MARK + json.dumps(event, default=str), flush=True)


def _state(state: Any) -> str:
    return str(getattr(state, "value", state) or "none")


def _embedded_profile(dag: Any) -> Any:
    """Fail fast on the embedded setup: a demo or backfill should show an error, not wait.

    The deployed DAGs retry transient failures with backoff over minutes and let the
    delivery sensor wait for days. Runs here are interactive and their deliveries are
    already on disk (the CLI checks before it starts), so: no retries, and a sensor gives up
    after ``NIR_EMBEDDED_SENSOR_TIMEOUT`` seconds (20), poking four times in that while.
    """
    from airflow.sdk import BaseSensorOperator

    timeout = load_settings().embedded_sensor_timeout
    for task in dag.tasks:
        task.retries = 0
        if isinstance(task, BaseSensorOperator):
            task.poke_interval = timeout / 4
            task.timeout = timeout
    return dag


def _worker(spec: list[dict[str, Any]]) -> int:
    """Inside the Airflow environment: ``DAG.test()`` each requested run, report as we go."""
    from airflow.utils.cli import get_bagged_dag
    from airflow.utils.session import create_session

    from nir import imports

    imports.tune_gc()
    dags: dict[str, Any] = {}
    for index, item in enumerate(spec):
        _emit({"event": "run-start", "index": index})
        started = time.monotonic()
        dag_id = item["dag_id"]
        if dag_id not in dags:
            dags[dag_id] = _embedded_profile(get_bagged_dag(bundle_names=None, dag_id=dag_id))
        # dbt and GX imported on another core while the first tasks read the delivery (the
        # steps that need them wait for it: nir.pipeline)
        imports.start_background()
        dag_run = dags[dag_id].test(
            logical_date=datetime.fromisoformat(item["logical_date"]), run_conf=item["conf"]
        )
        with create_session() as session:
            tis = dag_run.get_task_instances(session=session)
            tasks = {ti.task_id: _state(ti.state) for ti in tis}
            busy = sum(ti.duration or 0.0 for ti in tis)
        state = _state(dag_run.state)
        if not tasks:  # e.g. a logical date before the DAG's start_date: nothing ran
            state = "no-tasks"
        _emit(
            {
                "event": "run-end",
                "index": index,
                "state": state,
                "seconds": round(time.monotonic() - started, 2),
                "task_seconds": round(busy, 2),
                "tasks": tasks,
            }
        )
        _settle()
    return 0


def _settle() -> None:
    """Between runs: collect this run's garbage, then freeze what is left (imported modules,
    dbt's parsed project, caches) out of the collector's view. Python's full collections
    walk every object the process holds: with dbt, Airflow and GX loaded they cost about half
    a second per monthly run at demo scale; frozen objects are never walked again."""
    gc.collect()
    gc.freeze()


def outcome_summary(outcomes: list[RunOutcome]) -> dict[str, Any]:
    """A JSON-friendly summary (used in tests and logs)."""
    return {
        "runs": [
            {**asdict(o.request), "state": o.state, "seconds": o.seconds, "tasks": o.task_states}
            for o in outcomes
        ]
    }


if __name__ == "__main__":
    sys.exit(_worker(json.loads(sys.stdin.read())))
