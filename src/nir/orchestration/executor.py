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
``nir demo`` runs every task in one process and imports them once, on a background thread
while its first tasks run (:mod:`nir.imports`).
"""

from __future__ import annotations

from airflow.executors.local_executor import LocalExecutor

from nir.imports import preload, tune_gc


class PreloadingLocalExecutor(LocalExecutor):
    """:class:`~airflow.executors.local_executor.LocalExecutor` whose workers are forked
    with dbt and GX already imported and the collector's thresholds raised
    (:func:`nir.imports.tune_gc`)."""

    def start(self) -> None:
        preload()
        tune_gc()
        super().start()
