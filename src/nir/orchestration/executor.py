"""The deployment's executor: Airflow's LocalExecutor, with dbt and GX imported before it forks.

Airflow 3's LocalExecutor starts its worker processes (``parallelism`` of them) by forking the
scheduler, and each worker runs every task in a process forked from itself. A task therefore
imports whatever its worker has not: with the stock executor every ``build`` task imported dbt
(~2 s) and every ``gate`` and ``publish`` task Great Expectations (~2.5 s), on every run.
:class:`PreloadingLocalExecutor` imports them once in the scheduler, just before the stock
executor forks its workers, so every task finds them in ``sys.modules``.

Safe to fork: importing these modules starts no thread and opens no file or connection (the
deployment test checks that the tasks run and publish). The cost is the scheduler's start
(a few seconds, once) and its memory, which the forked workers share until they write to it;
the stock executor freezes the garbage collector around the fork for that reason.

Used by ``docker-compose.yml`` (``AIRFLOW__CORE__EXECUTOR``); the embedded worker of
``nir demo`` runs every task in one process and imports them once anyway.
"""

from __future__ import annotations

import importlib
import logging
import time

from airflow.executors.local_executor import LocalExecutor

log = logging.getLogger(__name__)

#: What the tasks import that costs seconds: dbt with its DuckDB adapter (``build``,
#: ``publish``, ``docs``), Great Expectations and the suites (``gate``, ``publish``), and the
#: pipeline's modules that bring in pandas, pyarrow and scipy.
PRELOAD = (
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


def preload(modules: tuple[str, ...] = PRELOAD) -> list[str]:
    """Import ``modules``; returns those that could not be imported (logged, not fatal: a
    task that needs one imports it itself and fails there, with its own error)."""
    started = time.monotonic()
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # a broken optional import must not stop the scheduler
            log.exception("could not preload %s; tasks will import it themselves", name)
            missing.append(name)
    log.info(
        "preloaded %d modules for the task processes in %.1f s",
        len(modules) - len(missing),
        time.monotonic() - started,
    )
    return missing


class PreloadingLocalExecutor(LocalExecutor):
    """:class:`~airflow.executors.local_executor.LocalExecutor` whose workers are forked
    with dbt and GX already imported."""

    def start(self) -> None:
        preload()
        super().start()
