"""What the NIR DAG files share: defaults, the DuckDB pool, the published assets, settings.

Not a DAG file (listed in ``.airflowignore``); Airflow puts the DAGs folder on ``sys.path``,
so the DAG files import it as ``_nir_common``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from nir.config import Settings, load_settings
from nir.errors import NirError

#: Tasks that open the DuckDB warehouse (or the published database) for writing share this
#: pool of one slot: DuckDB allows a single writer per file, also across DAGs.
DUCKDB_POOL = "nir_duckdb"

#: Outlet of ``publish``: the published statistics database. ``nir_annual`` is scheduled on it.
PUBLISHED = Asset(name="nir_published_statistikk", uri="nir://published/statistikk")
#: Outlet of ``freeze``: the final figures and revisions of a reference year.
FINAL = Asset(name="nir_published_endelige_tall", uri="nir://published/endelige")

#: Transient failures (a crashed dbt process, a busy warehouse file, a full disk) are retried
#: with exponential backoff: 2, 4, 8 minutes. Failures that cannot pass by waiting (a delivery
#: that breaks the contract, a failed gate) fail at once: see :func:`fail_fast`.
DEFAULT_ARGS = {
    "owner": "nir-statistikk",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
}


def settings() -> Settings:
    """The pipeline settings, from the ``NIR_*`` environment of the worker."""
    return load_settings()


def as_date(snapshot: str) -> date:
    return date.fromisoformat(snapshot)


@contextmanager
def fail_fast() -> Iterator[None]:
    """Turn the package's non-transient errors into a failure without retries.

    A ``NirError`` says whether waiting can help (``transient``): a busy warehouse or a full
    disk keep the task's retries; a contract violation or a failed gate fail at once.
    """
    try:
        yield
    except NirError as exc:
        if exc.transient:
            raise
        raise AirflowFailException(str(exc)) from exc
