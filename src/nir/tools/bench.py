"""`nir bench`: national-scale runs, cost per snapshot, and the distance to DuckDB's floor.

Everything is written under ``<data_dir>/bench/``:

- ``<scale>/landing/``: the synthetic history of a scale, generated once and reused while
  ``<scale>/generated.json`` matches the parameters asked for;
- ``runs/``: the data dirs of the measured runs (deleted and recreated for every repetition);
- ``results-<timestamp>.json`` and ``latest.json``: the figures, rewritten after every phase
  so that an interrupted run still leaves what it measured.

Every step runs as a child process (``nir load``, ``nir build``, ``nir gate``, the floors, the
Airflow run) and is timed from outside; its peak memory is the child's ``ru_maxrss`` from
``os.wait4``, which on Linux is the largest RSS of the child and of every descendant it
waited for (dbt, the Airflow worker). That figure also counts the RSS of the process that
started the child (Linux records the old address space's high-water mark at ``exec``), so
each step is started by a small launcher (:data:`_LAUNCHER`) that reports the step's own
figure, whatever the bench process holds (it generates the histories). Targets are
reported, never asserted.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from nir import periods
from nir.config import PROJECT_ROOT, Settings

BENCH_KEY = "nir-bench-pseudonym-key-not-secret-0001"  # synthetic data only
GATE_FLOOR_SQL = PROJECT_ROOT / "benchmarks" / "gate_floor.sql"
TABLES = ("personer", "deltakelser", "vedtak", "tiltak")


@dataclass(frozen=True)
class Scale:
    """One synthetic history: ``persons`` over reference periods ``start``..``end``."""

    name: str
    persons: int
    start: str
    end: str
    seed: int = 1

    def params(self) -> dict[str, Any]:
        return {
            "persons": self.persons,
            "start": self.start,
            "end": self.end,
            "seed": self.seed,
            "daily": 0,
        }


NATIONAL = Scale("national", 80_000, "2021-01", "2024-12")
# Ten times the persons; only the last three snapshots are written (each snapshot holds the
# whole history up to its date, so the last one is as large as in a 48-month run).
TENFOLD = Scale("tenfold", 800_000, "2024-10", "2024-12")
QUICK = Scale("quick", 500, "2024-01", "2024-03")  # a smoke run: every figure, small


@dataclass(frozen=True)
class Target:
    """What a figure is held against: ``ratio`` (to its floor), ``seconds`` or ``bytes``."""

    kind: str
    limit: float
    text: str
    binding: bool = True  # False: shown for reference only (e.g. the audit's verdict)

    def met(self, m: Measurement) -> bool | None:
        if not self.binding:
            return None
        value = {"ratio": m.ratio, "seconds": m.median, "bytes": m.peak_rss}[self.kind]
        return None if value is None else value <= self.limit


@dataclass
class Measurement:
    name: str
    scale: str
    seconds: list[float]
    peak_rss: int | None = None  # bytes, the largest over the repetitions
    floor_name: str | None = None
    floor_seconds: list[float] = field(default_factory=list)
    floor_peak_rss: int | None = None
    target: str | None = None
    target_met: bool | None = None
    note: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def floor_median(self) -> float | None:
        return statistics.median(self.floor_seconds) if self.floor_seconds else None

    @property
    def ratio(self) -> float | None:
        f = self.floor_median
        return self.median / f if f else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(median=self.median, floor_median=self.floor_median, ratio=self.ratio)
        return d


# The steps held against a floor: (step, the floor, the target). Issue #13: the build at
# national scale too; the gate as its own process and inside the worker.
STEPS = (
    ("load", "bare read_csv CTAS", Target("ratio", 2.0, "≤ 2× floor")),
    ("build", "dbt's compiled SQL as one script", Target("ratio", 3.0, "≤ 3× floor")),
    ("gate", "benchmarks/gate_floor.sql", Target("ratio", 3.0, "≤ 3× floor")),
)


def task_seconds(data_dir: Path, dag_id: str = "nir_monthly") -> dict[str, float]:
    """Each task's duration in the newest run of ``dag_id`` in the data dir's embedded
    Airflow (its metadata database, as the scheduler recorded them)."""
    import sqlite3

    db = data_dir / "airflow" / "airflow.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "select task_id, (julianday(end_date) - julianday(start_date)) * 86400 "
            "from task_instance where dag_id = ? and end_date is not null and run_id = "
            "(select run_id from dag_run where dag_id = ? order by start_date desc limit 1)",
            [dag_id, dag_id],
        ).fetchall()
    finally:
        con.close()
    return {task: round(seconds, 2) for task, seconds in rows}


def _task_summary(runs: list[dict[str, float]]) -> str:
    """``build 11.8, publish 20.0, …``: each task's median over the runs, longest first."""
    names = {task for run in runs for task in run}
    medians = {t: statistics.median(r[t] for r in runs if t in r) for t in names}
    return ", ".join(f"{t} {m:.1f}" for t, m in sorted(medians.items(), key=lambda x: -x[1]))


# --- child processes --------------------------------------------------------------------------
# A fresh interpreter that runs argv[2:], waits for it and writes "<seconds> <peak RSS KiB>"
# to argv[1]. Its child is forked from this small process, so the child's ru_maxrss is its
# own (at least the launcher's ~10 MB), not the bench process's.
_LAUNCHER = """
import os, subprocess, sys, time
started = time.monotonic()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{time.monotonic() - started} {usage.ru_maxrss}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_child(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, int]:
    """Run ``cmd``; return (wall seconds, peak RSS in bytes of it and its descendants)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    figures = log.with_name(f".{log.name}.child")
    figures.unlink(missing_ok=True)
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _LAUNCHER, str(figures), *cmd],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if proc.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): see {log}")
    seconds, kib = figures.read_text("ascii").split()
    figures.unlink()
    return float(seconds), int(kib) * 1024  # Linux reports kilobytes


class BenchError(RuntimeError):
    pass


def _nir(*args: str) -> list[str]:
    return [sys.executable, "-m", "nir", *args]


def _helper(*args: str) -> list[str]:
    return [sys.executable, "-m", "nir.tools.bench", *args]


# --- the floors, run inside a helper process (``python -m nir.tools.bench <floor> ...``) ---
def load_floor(db: Path, delivery: Path) -> None:
    """Bare DuckDB: CREATE TABLE AS SELECT * FROM read_csv(...) of the four files."""
    import duckdb

    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    try:
        for table in TABLES:
            path = str(delivery / f"{table}.csv").replace("'", "''")
            con.execute(
                f"create table {table} as select * from read_csv('{path}', delim=';', "
                "header=true, dateformat='%d.%m.%Y', timestampformat='%d.%m.%Y %H:%M:%S', "
                "decimal_separator=',')"
            )
    finally:
        con.close()


def _run_script(con: Any, script: Path, snapshot: str) -> Any:
    con.execute(f"set variable snapshot = date '{date.fromisoformat(snapshot).isoformat()}'")
    result = None
    for statement in _statements(script.read_text("utf-8")):
        result = con.execute(statement)
    return result


def _statements(sql: str) -> list[str]:
    """Split a script on ``;`` at line ends (the floor scripts keep one statement per block)."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";").strip()]


def build_floor(warehouse: Path, snapshot: str) -> None:
    """The SQL floor of the dbt build (raw tables -> marts, in memory), generated from the
    compiled SQL of the ``nir build`` that ran just before (:mod:`nir.tools.floor`)."""
    import duckdb

    from nir.config import load_settings
    from nir.tools.floor import flatten
    from nir.warehouse.dbt import dbt_dir

    script = flatten(dbt_dir(load_settings()) / "target", snapshot)
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach '{warehouse}' as warehouse (read_only)")
        con.execute(f"set variable snapshot = date '{date.fromisoformat(snapshot).isoformat()}'")
        for statement in _statements(script):
            con.execute(statement)
    finally:
        con.close()


def gate_floor(warehouse: Path, snapshot: str, settings: Settings) -> list[tuple[Any, ...]]:
    """The completeness gate's checks as one DuckDB query."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute(f"set variable grace_months = {int(settings.registration_grace_months)}")
        con.execute(f"set variable max_ir = {float(settings.gate_max_ikke_registrert_share)}")
        con.execute(f"set variable max_err = {float(settings.gate_max_error_spell_share)}")
        return _run_script(con, GATE_FLOOR_SQL, snapshot).fetchall()
    finally:
        con.close()


def final_snapshots(settings: Settings, snapshots: list[date]) -> list[date]:
    """Those of ``snapshots`` that freeze a year's final figures (the first monthly snapshot
    after its deadline), oldest first."""
    if not snapshots:
        return []
    years = range(snapshots[0].year - 1, snapshots[-1].year)
    finals = {periods.final_snapshot(y, settings.annual_deadline) for y in years}
    return sorted(finals & set(snapshots))


def seed_only(snapshot: str) -> None:
    """Load dbt's seeds into a fresh warehouse (not measured: a monthly run finds them)."""
    from nir.config import load_settings
    from nir.warehouse.dbt import seed

    seed(load_settings(), date.fromisoformat(snapshot))


def e2e_run(snapshot: str) -> None:
    """One ``nir_monthly`` run through Airflow (embedded); Airflow is prepared."""
    from nir.config import load_settings
    from nir.orchestration import embedded as orchestrate

    settings = load_settings()
    outcome = orchestrate.run(
        settings, orchestrate.monthly_requests([date.fromisoformat(snapshot)])
    )
    if not outcome[0].ok:
        raise BenchError(f"nir_monthly {snapshot}: {outcome[0].state} {outcome[0].error}")
    print(json.dumps({"seconds": outcome[0].seconds, "task_seconds": outcome[0].task_seconds}))


def airflow_prepare() -> None:
    from nir.config import load_settings
    from nir.orchestration import embedded as orchestrate

    orchestrate.prepare(load_settings())


# --- generating (cached) -----------------------------------------------------------------------
def ensure_history(bench_dir: Path, scale: Scale, on_progress: Callable[[str], None]) -> list[date]:
    """The scale's monthly snapshots, generated unless ``generated.json`` matches."""
    from nir.delivery.check import delivery_complete
    from nir.tools.generate import generate

    root = bench_dir / scale.name
    meta_path = root / "generated.json"
    landing = root / "landing"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text("utf-8"))
        if {k: meta.get(k) for k in scale.params()} == scale.params() and all(
            delivery_complete(landing / s) for s in meta.get("snapshots", [])
        ):
            return [date.fromisoformat(s) for s in meta["snapshots"]]
    shutil.rmtree(root, ignore_errors=True)
    on_progress(f"generating {scale.name}: {scale.persons} persons {scale.start}..{scale.end}")
    started = time.monotonic()
    written = generate(
        landing,
        **scale.params(),
        on_delivery=lambda p, i, n: on_progress(f"generating {scale.name}: {i}/{n} {p.name}"),
    )
    meta = {
        **scale.params(),
        "snapshots": [p.name for p in written],
        "seconds": round(time.monotonic() - started, 1),
        "bytes": sum(f.stat().st_size for f in landing.rglob("*") if f.is_file()),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", "utf-8")
    return [date.fromisoformat(p.name) for p in written]


# --- the benchmark -----------------------------------------------------------------------------
@dataclass
class Bench:
    settings: Settings
    repeat: int = 3
    quick: bool = False
    only: tuple[str, ...] = ()  # phase names; empty = every phase
    on_progress: Callable[[str], None] = lambda _m: None
    measurements: list[Measurement] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # load + build medians of a snapshot in an empty warehouse, from the steps phase
    fresh_cost: dict[str, float] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def bench_dir(self) -> Path:
        return self.settings.data_dir / "bench"

    @property
    def log(self) -> Path:
        return self.bench_dir / "bench.log"

    def env(self, data_dir: Path, landing: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NIR_")}
        if "NIR_CONFIG" in os.environ:
            env["NIR_CONFIG"] = os.environ["NIR_CONFIG"]
        env.update(
            NIR_DATA_DIR=str(data_dir.resolve()),
            NIR_LANDING_DIR=str(landing.resolve()),
            NIR_PSEUDONYM_KEY=BENCH_KEY,
            PYTHONUNBUFFERED="1",
        )
        return env

    def fresh_dir(self, name: str) -> Path:
        path = self.bench_dir / "runs" / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def child(self, label: str, cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
        self.on_progress(label)
        return run_child(cmd, env, self.log)

    # --- phases ---------------------------------------------------------------------------
    def steps(self, scale: Scale, snapshots: list[date]) -> None:
        """Load, build and gate of the scale's newest snapshot, each against its floor."""
        snap = snapshots[-1]
        s = snap.isoformat()
        landing = self.bench_dir / scale.name / "landing"
        delivery = landing / s
        runs: dict[str, list[tuple[float, int]]] = {}
        for r in range(self.repeat):
            tag = f"{scale.name} {s} rep {r + 1}/{self.repeat}"
            data = self.fresh_dir(f"{scale.name}-steps")
            env = self.env(data, landing)
            warehouse = data / "warehouse" / "warehouse.duckdb"
            runs.setdefault("load", []).append(
                self.child(f"{tag}: nir load", _nir("load", str(delivery)), env)
            )
            runs.setdefault("load_floor", []).append(
                self.child(
                    f"{tag}: load floor (read_csv)",
                    _helper("load-floor", str(data / "floor.duckdb"), str(delivery)),
                    env,
                )
            )
            (data / "floor.duckdb").unlink(missing_ok=True)
            self.child(f"{tag}: dbt seed (not measured)", _helper("seed", s), env)
            runs.setdefault("build", []).append(
                self.child(f"{tag}: nir build", _nir("build", "--snapshot", s), env)
            )
            runs.setdefault("build_floor", []).append(
                self.child(
                    f"{tag}: build floor (compiled SQL)",
                    _helper("build-floor", str(warehouse), s),
                    env,
                )
            )
            runs.setdefault("gate", []).append(self.child(f"{tag}: nir gate", _nir("gate", s), env))
            runs.setdefault("gate_floor", []).append(
                self.child(
                    f"{tag}: gate floor (gate_floor.sql)",
                    _helper("gate-floor", str(warehouse), s),
                    env,
                )
            )
        # the build and the gate as a worker runs them once warm: in the last rep's data dir,
        # in one process that imported dbt and GX and ran each once before timing them
        _, warm_rss = self.child(
            f"{scale.name} {s}: build and gate in a warm worker",
            _helper("warm", s, str(self.repeat)),
            self.env(data, landing),
        )
        warm = _last_json(self.log)
        self.fresh_cost[f"{scale.name} {s}"] = statistics.median(
            t for t, _ in runs["load"]
        ) + statistics.median(t for t, _ in runs["build"])
        for step, floor, target in STEPS:
            self.add(
                Measurement(
                    name=f"{step} {s}",
                    scale=scale.name,
                    seconds=[t for t, _ in runs[step]],
                    peak_rss=max(m for _, m in runs[step]),
                    floor_name=floor,
                    floor_seconds=[t for t, _ in runs[f"{step}_floor"]],
                    floor_peak_rss=max(m for _, m in runs[f"{step}_floor"]),
                ),
                target,
            )
        self.against_floors(
            scale,
            f"{s} in a warm worker",
            warm,
            {step: [t for t, _ in runs[f"{step}_floor"]] for step, _, _ in STEPS},
            warm_rss,
            "one process, as a worker that has run a snapshot before: dbt and GX imported, "
            "dbt's first command done (not measured)",
        )

    def disclosure(self, scale: Scale, snapshots: list[date]) -> None:
        """Disclosure control and its audit over everything the newest snapshot publishes.

        Runs in the data folder the ``steps`` phase left (the snapshot loaded, built and
        gated); reports the seconds of the Gaussian suppression and of the independent audit,
        the cells hidden, and, for comparison, how many secondary cells the classic rule
        ("a total with exactly one hidden part gets a second") hides on the same tables.
        """
        s = snapshots[-1].isoformat()
        data = self.bench_dir / "runs" / f"{scale.name}-steps"
        if not (data / "warehouse" / "warehouse.duckdb").exists():
            steps = "steps" if self.quick else f"{scale.name}-steps"
            raise BenchError(
                f"nothing built at {scale.name} scale in {data}: run the {steps} phase first "
                f"(--only {steps} before --only {steps.replace('steps', 'disclosure')})"
            )
        env = self.env(data, self.bench_dir / scale.name / "landing")
        _, rss = self.child(
            f"{scale.name} {s}: disclosure control and audit", _helper("disclosure", s), env
        )
        facts = _last_json(self.log)
        note = (
            f"{facts['cells']} cells, {facts['primary']} primary, {facts['secondary']} secondary "
            f"(classic rule: {facts['classic_secondary']} secondary, "
            f"{facts['classic_recoverable_primary']} primary cells still recoverable); "
            f"audit: {facts['recoverable_primary']} primary / {facts['recoverable']} hidden "
            "cells recoverable"
        )
        self.add(
            Measurement(
                name=f"disclosure control {s}",
                scale=scale.name,
                seconds=[facts["suppression_seconds"]],
                peak_rss=rss,
                note=note,
            ),
            None,
        )
        self.add(
            Measurement(
                name=f"disclosure audit {s}",
                scale=scale.name,
                seconds=[facts["audit_seconds"]],
                peak_rss=rss,
                note=f"{facts['hidden']} hidden cells checked; recoverable must be 0",
            ),
            Target("seconds", 1e9, "0 recoverable primary cells", binding=False),
        )
        if facts["recoverable_primary"]:
            self.errors.append(
                f"disclosure audit at {scale.name} scale: {facts['recoverable_primary']} "
                "primary cells recoverable"
            )

    def e2e(self, scale: Scale, snapshots: list[date], *, previous: bool = True) -> None:
        """The whole ``nir_monthly`` DAG through Airflow for the newest snapshot."""
        s = snapshots[-1].isoformat()
        landing = self.bench_dir / scale.name / "landing"
        # The run finds what production leaves: every year whose deadline has passed frozen
        # (its final snapshot gated, as that month's run did) and last month's run done
        # (published, so the kept disclosure outcomes are last month's; docs; control lists).
        # That base is prepared where the runs run, and each run starts from a copy of it put
        # back at that path: a data dir that moved would make dbt parse the project in full
        # and reload the seeds (both are keyed on the warehouse's path), which a production
        # data dir never does.
        base = self.fresh_dir(f"{scale.name}-e2e")
        env = self.env(base, landing)
        self.child(
            f"{scale.name}: airflow db migrate (not measured)", _helper("airflow-prepare"), env
        )
        if previous and len(snapshots) > 1:
            for snap in final_snapshots(self.settings, snapshots[:-2]):
                tag = f"{scale.name} final snapshot {snap.isoformat()} (not measured)"
                self.child(f"{tag}: load", _nir("load", str(landing / snap.isoformat())), env)
                self.child(f"{tag}: build", _nir("build", "--snapshot", snap.isoformat()), env)
                self.child(f"{tag}: gate", _nir("gate", snap.isoformat()), env)
            # last month as production ran it: the whole DAG, so its publication, docs and
            # control lists are there for this month's run to build on
            prev = snapshots[-2].isoformat()
            self.child(
                f"{scale.name} previous month {prev}: nir_monthly through Airflow (not measured)",
                _helper("e2e", prev),
                env,
            )
        pristine = self.bench_dir / "runs" / f"{scale.name}-e2e-base"
        shutil.rmtree(pristine, ignore_errors=True)
        shutil.copytree(base, pristine, symlinks=True)
        times, rss, inside, tasks = [], [], [], []
        for r in range(self.repeat):
            tag = f"{scale.name} {s} rep {r + 1}/{self.repeat}"
            shutil.rmtree(base)
            shutil.copytree(pristine, base, symlinks=True)
            t, m = self.child(f"{tag}: nir_monthly through Airflow", _helper("e2e", s), env)
            times.append(t)
            rss.append(m)
            inside.append(_last_json(self.log).get("seconds"))
            tasks.append(task_seconds(base))
        limit = 300.0 if scale.name == TENFOLD.name else 30.0  # issue #13: national < 30 s
        self.add(
            Measurement(
                name=f"monthly run {s} (Airflow)",
                scale=scale.name,
                seconds=times,
                peak_rss=max(rss),
                note=f"DAG run alone (DAG.test) {inside}; the rest is worker start-up; "
                f"tasks, median s: {_task_summary(tasks)}",
            ),
            Target("seconds", limit, f"< {limit:.0f} s"),
        )
        # the same steps as tasks of this fresh worker (last month's verdicts carried; the
        # build and gate tasks pay dbt's and GX's imports, which the steps phase's warm
        # worker has paid), against the floors of the steps phase when it ran
        self.against_floors(
            scale,
            f"{s} in the worker (monthly run)",
            {step: [t[step] for t in tasks if step in t] for step, _, _ in STEPS},
            {step: self.floor_seconds(scale, step, s) for step, _, _ in STEPS},
            max(rss),
            "the DAG task's duration in the Airflow worker (peak RSS: the whole worker's)",
        )

    def backfill(self, scale: Scale, snapshots: list[date], months: list[int]) -> None:
        """Load + build every snapshot in order into one warehouse; time ``months`` (1-based)."""
        landing = self.bench_dir / scale.name / "landing"
        costs: dict[int, tuple[float, int]] = {}
        total, peak = 0.0, 0
        data = self.fresh_dir(f"{scale.name}-backfill")
        env = self.env(data, landing)
        last = max(months)
        for k, snap in enumerate(snapshots[:last], start=1):
            s = snap.isoformat()
            tag = f"backfill {scale.name} month {k}/{last} ({s})"
            t1, m1 = self.child(f"{tag}: load", _nir("load", str(landing / s)), env)
            if k == 1:  # the seeds are loaded once, before the first build
                self.child(f"{tag}: dbt seed (not measured)", _helper("seed", s), env)
            t2, m2 = self.child(f"{tag}: build", _nir("build", "--snapshot", s), env)
            total, peak = total + t1 + t2, max(peak, m1, m2)
            if k in months:
                costs[k] = (t1 + t2, max(m1, m2))
        first = costs[months[0]][0]
        for k in months:
            m = Measurement(
                name=f"backfill month {k} load+build ({snapshots[k - 1]})",
                scale=scale.name,
                seconds=[costs[k][0]],
                peak_rss=costs[k][1],
                floor_name=f"month {months[0]}",
                floor_seconds=[first],
                note="one backfill; each month is measured once",
            )
            self.add(
                m, Target("ratio", 1.1, f"≤ 1.1× month {months[0]}") if k != months[0] else None
            )
        self.add(
            Measurement(
                name=f"backfill {last} months load+build, total",
                scale=scale.name,
                seconds=[total],
                peak_rss=peak,
                note="every month loaded and built in order into one warehouse",
            ),
            Target("seconds", 480.0, "< 8 min"),
        )
        # The snapshots grow (month 48 holds 2.5x the rows of month 1 at national scale), so
        # also compare the last month with the same snapshot loaded into an empty warehouse:
        # that ratio is what the stored history adds.
        s = snapshots[last - 1].isoformat()
        if f"{scale.name} {s}" in self.fresh_cost:
            m = Measurement(
                name=f"backfill month {last} vs empty warehouse ({s})",
                scale=scale.name,
                seconds=[costs[last][0]],
                peak_rss=costs[last][1],
                floor_name="same snapshot, empty warehouse (load+build medians)",
                floor_seconds=[self.fresh_cost[f"{scale.name} {s}"]],
                note="what the stored history adds to a month's load+build",
            )
            self.add(m, Target("ratio", 1.1, "≤ 1.1× empty warehouse"))

    # --- results ---------------------------------------------------------------------------
    def against_floors(
        self,
        scale: Scale,
        label: str,
        seconds: dict[str, list[float]],
        floors: dict[str, list[float]],
        peak_rss: int,
        note: str,
    ) -> None:
        """One measurement ``<step> <label>`` per step of :data:`STEPS` that has seconds, held
        against its floor's seconds (none when ``floors`` has none for it) and its target."""
        for step, floor, target in STEPS:
            if seconds.get(step):
                self.add(
                    Measurement(
                        name=f"{step} {label}",
                        scale=scale.name,
                        seconds=seconds[step],
                        peak_rss=peak_rss,
                        floor_name=floor if floors.get(step) else None,
                        floor_seconds=floors.get(step, []),
                        note=note,
                    ),
                    target,
                )

    def floor_seconds(self, scale: Scale, step: str, snapshot: str) -> list[float]:
        """The floor's seconds of ``step`` on ``snapshot`` from this run's steps phase (empty
        when that phase did not run)."""
        name = f"{step} {snapshot}"
        for m in self.measurements:
            if m.scale == scale.name and m.name == name:
                return m.floor_seconds
        return []

    def add(self, m: Measurement, target: Target | None) -> None:
        if target is not None:
            m.target, m.target_met = target.text, target.met(m)
        self.measurements.append(m)
        self.write()

    def memory_target(self) -> Target:
        return Target("bytes", 2 * 1024**3, "< 2 GB (national)")

    def write(self) -> Path:
        doc = {
            "started": self.started.isoformat(timespec="seconds"),
            "written": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": self.quick,
            "only": list(self.only),
            "repeat": self.repeat,
            "machine": machine(),
            "scales": {
                p.name: json.loads((p / "generated.json").read_text("utf-8"))
                for p in sorted(self.bench_dir.glob("*/"))
                if (p / "generated.json").exists()
            },
            "peak_rss_target_bytes": 2 * 1024**3,
            "phase_seconds": self.phase_seconds,
            "errors": self.errors,
            "measurements": [m.to_dict() for m in self.measurements],
        }
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        path = self.bench_dir / f"results-{stamp}.json"
        text = json.dumps(doc, indent=2, default=str) + "\n"
        path.write_text(text, "utf-8")
        (self.bench_dir / "latest.json").write_text(text, "utf-8")
        return path

    def phases(self) -> dict[str, Callable[[], None]]:
        """Every phase of this run by name, in the order they run."""
        if self.quick:
            quick = self._history(QUICK)
            return {
                "steps": lambda: self.steps(QUICK, quick()),
                "disclosure": lambda: self.disclosure(QUICK, quick()),
                "monthly-run": lambda: self.e2e(QUICK, quick(), previous=False),
                "backfill": lambda: self.backfill(QUICK, quick(), [1, 2]),
            }
        national = self._history(NATIONAL)
        tenfold = self._history(TENFOLD)
        return {
            "national-steps": lambda: self.steps(NATIONAL, national()),
            "national-disclosure": lambda: self.disclosure(NATIONAL, national()),
            "tenfold-steps": lambda: self.steps(TENFOLD, tenfold()),
            "tenfold-disclosure": lambda: self.disclosure(TENFOLD, tenfold()),
            "national-monthly-run": lambda: self.e2e(NATIONAL, national()),
            "backfill": lambda: self.backfill(NATIONAL, national(), [1, 12, 48]),
            "tenfold-monthly-run": lambda: self.e2e(TENFOLD, tenfold()),
        }

    def _history(self, scale: Scale) -> Callable[[], list[date]]:
        """The scale's snapshots, generated the first time a phase asks for them."""
        return functools.cache(lambda: ensure_history(self.bench_dir, scale, self.on_progress))

    def run(self) -> Path:
        self.bench_dir.mkdir(parents=True, exist_ok=True)
        self.log.write_text(f"nir bench {self.started.isoformat()}\n", "utf-8")
        phases = self.phases()
        unknown = [name for name in self.only if name not in phases]
        if unknown:
            raise BenchError(
                f"no benchmark phase {', '.join(unknown)}; the phases are {', '.join(phases)}"
            )
        for name, phase in phases.items():
            if self.only and name not in self.only:
                continue
            started = time.monotonic()
            try:
                phase()
            except BenchError as exc:  # keep what the other phases measure
                self.errors.append(f"{name}: {exc}")
                self.on_progress(f"{name} FAILED: {exc}")
            self.phase_seconds[name] = round(time.monotonic() - started, 1)
            self.write()
        return self.write()


def _last_json(log: Path) -> dict[str, Any]:
    for line in reversed(log.read_text("utf-8").splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return {}
    return {}


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    load = os.getloadavg()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_bytes": mem,
        "loadavg_at_end": [round(x, 2) for x in load],
        "python": sys.version.split()[0],
    }


def render(measurements: list[Measurement]) -> Any:
    """A rich table: medians, floors, ratios and targets."""
    from rich.table import Table

    table = Table(title="nir bench (medians)")
    for col in ("scale", "measurement", "n", "median s", "floor", "floor s", "ratio", "peak RSS",
                "target", "met"):  # fmt: skip
        table.add_column(
            col, justify="right" if col.endswith(("s", "ratio", "n", "RSS")) else "left"
        )
    for m in measurements:
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: ""}[m.target_met]
        table.add_row(
            m.scale,
            m.name,
            str(len(m.seconds)),
            f"{m.median:.2f}",
            m.floor_name or "",
            "" if m.floor_median is None else f"{m.floor_median:.2f}",
            "" if m.ratio is None else f"{m.ratio:.2f}×",
            "" if m.peak_rss is None else f"{m.peak_rss / 1024**2:.0f} MB",
            m.target or "",
            met,
        )
    return table


def memory_summary(measurements: list[Measurement]) -> tuple[int, bool]:
    """Largest peak RSS of any national-scale step, and whether it is under 2 GB."""
    peak = max((m.peak_rss or 0 for m in measurements if m.scale == NATIONAL.name), default=0)
    return peak, peak < 2 * 1024**3


def markdown(doc: dict[str, Any]) -> str:
    """The measurements of a results JSON as a Markdown table (for docs/performance.md)."""
    mb = 1024**2
    lines = [
        "| scale | measurement | n | median s (runs) | floor | floor s | ratio | peak RSS "
        "| target | met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in doc["measurements"]:
        ratio = "" if m["ratio"] is None else f"{m['ratio']:.2f}×"
        floor_s = "" if m["floor_median"] is None else f"{m['floor_median']:.2f}"
        met = {True: "yes", False: "**no**", None: ""}[m["target_met"]]
        runs = ", ".join(f"{x:.1f}" for x in m["seconds"])
        rss = f"{m['peak_rss'] / mb:.0f} MB"
        if m["floor_peak_rss"]:
            rss += f" (floor {m['floor_peak_rss'] / mb:.0f} MB)"
        lines.append(
            f"| {m['scale']} | {m['name']} | {len(m['seconds'])} | {m['median']:.1f} ({runs}) "
            f"| {m['floor_name'] or ''} | {floor_s} | {ratio} | {rss} | {m['target'] or ''} "
            f"| {met} |"
        )
    return "\n".join(lines)


def disclosure_run(snapshot: str) -> dict[str, Any]:
    """Build the publishing layer, then time disclosure control and the audit in-process."""
    from nir.catalog import load_catalog
    from nir.config import load_settings
    from nir.publication import disclosure
    from nir.publication.attack import audit_publication
    from nir.publication.publish import read_figures
    from nir.warehouse.dbt import build_publishing

    settings = load_settings()
    day = date.fromisoformat(snapshot)
    build_publishing(settings, day)
    catalog = load_catalog(settings)
    frames = read_figures(settings, catalog)
    threshold = int(settings.suppression_threshold)
    started = time.monotonic()
    protected = disclosure.protect(
        frames,
        catalog,
        threshold=threshold,
        min_share_denominator=int(settings.min_share_denominator),
    )
    suppression_seconds = time.monotonic() - started
    started = time.monotonic()
    attack = audit_publication(protected.frames, frames, catalog, threshold)
    audit_seconds = time.monotonic() - started
    classic, classic_frames = classic_rule(frames, catalog, threshold)
    classic_attack = audit_publication(classic_frames, frames, catalog, threshold)
    found = attack.result.recoverable
    return {
        "cells": protected.cells,
        "primary": protected.primary,
        "secondary": protected.secondary,
        "hidden": attack.hidden,
        "suppression_seconds": round(suppression_seconds, 2),
        "audit_seconds": round(audit_seconds, 2),
        "recoverable": len(found),
        "recoverable_primary": sum(1 for f in found if f.primary),
        "classic_secondary": classic,
        "classic_recoverable_primary": sum(
            1 for f in classic_attack.result.recoverable if f.primary
        ),
    }


def classic_rule(
    frames: dict[str, Any], catalog: dict[str, Any], threshold: int
) -> tuple[int, dict[str, Any]]:
    """The classic rule, for comparison only: primary cells hidden, then, within each table and
    relation (a breakdown's total and its parts, a fylke and its kommuner, the country and its
    fylker), a total shown with exactly one hidden part gets its smallest shown part hidden
    too, until nothing changes. Returns the number of secondary cells and the tables."""
    import pandas as pd

    out: dict[str, Any] = {}
    secondary = 0
    for name, t in catalog.items():
        f = frames[name].copy()
        cols = [m for m in t.maal] or [c for c in (t.revisjon or {}).values()]
        counts = [c for c in cols if c in t.count_columns or c in t.maal]
        hidden = {c: pd.Series(False, index=f.index) for c in cols}
        for c in counts:
            v = pd.to_numeric(f[c], errors="coerce")
            hidden[c] |= (v >= 1) & (v < threshold)
        groups: list[tuple[list[str], Any, Any]] = []
        for d, total in t.dimensjoner.items():
            others = [c for c in t.rad if c != d]
            groups.append((others, f[d].astype(str) == total, f[d].astype(str) != total))
        if "nivaa" in t.rad:
            rest = [c for c in t.rad if c not in ("nivaa", "region")]
            fy = f["region"].astype(str).str[:2].where(f["nivaa"] != "land")
            f = f.assign(_fylke=fy)
            groups.append(([*rest, "_fylke"], f["nivaa"] == "fylke", f["nivaa"] == "kommune"))
            groups.append((rest, f["nivaa"] == "land", f["nivaa"] == "fylke"))
        changed = True
        while changed:
            changed = False
            for c in counts:
                v = pd.to_numeric(f[c], errors="coerce").fillna(0)
                for keys, is_total, is_part in groups:
                    if not keys:
                        continue
                    g = f.groupby(keys, dropna=False, sort=False).ngroup()
                    total_shown = (is_total & ~hidden[c]).groupby(g).transform("max")
                    n_hidden = (is_part & hidden[c]).groupby(g).transform("sum")
                    cand = is_part & ~hidden[c] & total_shown & (n_hidden == 1)
                    if not cand.any():
                        continue
                    pick = v.where(cand).groupby(g).transform("min")
                    chosen = cand & (v == pick)
                    first = chosen & ~chosen.groupby(g).cumsum().gt(1)
                    if first.any():
                        hidden[c] |= first
                        secondary += int(first.sum())
                        changed = True
        for c in cols:
            f[c] = f[c].astype(object).where(~hidden[c], None)
        f["prikket"] = pd.concat(list(hidden.values()), axis=1).any(axis=1)
        out[name] = f.drop(columns=["_fylke"], errors="ignore")
    return secondary, out


def warm_run(snapshot: str, repeat: int) -> dict[str, list[float]]:
    """``build`` and ``gate`` of ``snapshot`` (already loaded) timed ``repeat`` times each in
    this process, after one unmeasured round: what a worker that has run a snapshot before
    pays (dbt and GX imported, dbt's adapter and macros set up, the parse kept)."""
    from nir.config import load_settings
    from nir.gate import run_gate
    from nir.warehouse.dbt import build

    settings = load_settings()
    day = date.fromisoformat(snapshot)
    build(settings, day)
    run_gate(settings, day)
    out: dict[str, list[float]] = {"build": [], "gate": []}
    for _ in range(repeat):
        for step, run in (("build", build), ("gate", run_gate)):
            started = time.perf_counter()
            run(settings, day)
            out[step].append(round(time.perf_counter() - started, 3))
    return out


def _main(argv: list[str]) -> int:
    from nir.config import load_settings

    what, *args = argv
    if what == "load-floor":
        load_floor(Path(args[0]), Path(args[1]))
    elif what == "build-floor":
        build_floor(Path(args[0]), args[1])
    elif what == "gate-floor":
        rows = gate_floor(Path(args[0]), args[1], load_settings())
        failed = [f"{r[0]} {r[1]} ({r[5]})" for r in rows if not r[4]]
        print(f"gate floor: {len(rows)} checks, {len(failed)} failed: {failed[:5]}")
    elif what == "disclosure":
        print(json.dumps(disclosure_run(args[0])), flush=True)
    elif what == "warm":
        print(json.dumps(warm_run(args[0], int(args[1]))), flush=True)
    elif what == "seed":
        seed_only(args[0])
    elif what == "airflow-prepare":
        airflow_prepare()
    elif what == "e2e":
        e2e_run(args[0])
    elif what == "markdown":
        print(markdown(json.loads(Path(args[0]).read_text("utf-8"))))
    else:
        raise SystemExit(f"unknown helper {what}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
