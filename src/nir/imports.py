"""The imports that cost seconds, done once per worker and, where possible, ahead of need.

dbt (with its DuckDB adapter) takes ~1.5-3 s to import and Great Expectations ~1.5-2.5 s; a
task that imports them pays that on the critical path. Two ways to take it off:

- the deployment's executor imports them before it forks its task processes
  (:mod:`nir.orchestration.executor` calls :func:`preload`);
- the embedded worker of ``nir demo``, ``nir backfill`` and the bench runs every task in one
  process: it imports them on a background thread (:func:`start_background`) while its first
  tasks read and load the delivery, which spend most of their time in DuckDB and pyarrow
  outside the GIL, and the pipeline's steps that need them (:mod:`nir.pipeline`) first
  :func:`wait` for that thread. So a step never imports them at the same time as the thread:
  Python's import locks keep concurrent imports of one module correct, but two threads
  entering a cycle of imports from different ends can see a module half initialised.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time

log = logging.getLogger(__name__)

#: What the tasks import that costs seconds: dbt with its DuckDB adapter (``build``,
#: ``publish``, ``docs``), Great Expectations and the suites (``gate``, ``publish``), and the
#: pipeline's modules that bring in pandas, pyarrow and scipy.
HEAVY = (
    "dbt.cli.main",
    "dbt.adapters.duckdb",
    "dbt.adapters.duckdb.impl",
    "great_expectations",
    "great_expectations.expectations",
    "nir.gate",
    "nir.warehouse.dbt",
    "nir.delivery.load",
    "nir.publication.publish",
    "nir.publication.years",
    "nir.kommune.controllists",
)

#: What the embedded worker's first tasks (``check_contract``, ``load``) import themselves:
#: left to them, so that no module is imported from both threads.
FIRST_TASKS = ("nir.delivery.load",)

_background: threading.Thread | None = None


def preload(modules: tuple[str, ...] = HEAVY) -> list[str]:
    """Import ``modules``; returns those that could not be imported (logged, not fatal: a
    task that needs one imports it itself and fails there, with its own error)."""
    started = time.monotonic()
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # a broken optional import must not stop the worker
            log.exception("could not preload %s; tasks will import it themselves", name)
            missing.append(name)
    log.info(
        "preloaded %d modules for the task processes in %.1f s",
        len(modules) - len(missing),
        time.monotonic() - started,
    )
    return missing


def background_modules() -> tuple[str, ...]:
    """What the embedded worker imports in the background: :data:`HEAVY` but
    :data:`FIRST_TASKS`."""
    return tuple(m for m in HEAVY if m not in FIRST_TASKS)


def start_background(modules: tuple[str, ...] | None = None) -> threading.Thread:
    """Start :func:`preload` of ``modules`` (default: :data:`HEAVY` but :data:`FIRST_TASKS`)
    on a daemon thread of this process, once; :func:`wait` joins it."""
    global _background
    if _background is None:
        chosen = background_modules() if modules is None else modules
        _background = threading.Thread(
            target=preload, args=(chosen,), name="nir-preload", daemon=True
        )
        _background.start()
    return _background


#: The collector's thresholds for the processes that run tasks. Python looks at its youngest
#: objects every 700 allocations net of frees; a task that builds pandas frames and dbt's
#: nodes does that ~330 times in a demo-scale monthly publish and build (0.14 s of
#: collections), 16 times at 10 000 (0.06 s); what survives a run is frozen anyway
#: (``nir.orchestration.embedded``). The older generations keep their defaults.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """Collect the youngest objects less often (:data:`GC_THRESHOLDS`): for the embedded
    worker and, before it forks its workers, the deployment's executor."""
    import gc

    gc.set_threshold(*GC_THRESHOLDS)


def wait() -> None:
    """Return once the background imports (if any were started) have ended."""
    if _background is not None and _background is not threading.current_thread():
        _background.join()
