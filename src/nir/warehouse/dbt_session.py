"""A dbt-duckdb plugin that tells every dbt connection which snapshot is being built.

The snapshot reaches the models as the DuckDB variable ``nir_snapshot`` (macro ``snapshot()``:
``getvariable('nir_snapshot')``, which DuckDB folds into a constant before it plans, so scans
of the raw tables still skip other snapshots), set here from the environment variable
``NIR_SNAPSHOT`` on every connection and cursor dbt opens. It is not a dbt var: dbt keeps its
parsed project (partial parsing) only while the vars are unchanged, and a var that changes every
month made every build parse the whole project again (about 7 s of each dbt command).

``nir build`` sets ``NIR_SNAPSHOT``; by hand: ``NIR_SNAPSHOT=2024-02-01 dbt build ...``.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

ENV = "NIR_SNAPSHOT"


def snapshot_from_env() -> date | None:
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{ENV}={value!r} is not a date: set it to the snapshot being built, YYYY-MM-DD"
        ) from None


def set_snapshot(con: Any, snapshot: date) -> None:
    """Set the DuckDB variable ``nir_snapshot`` on ``con`` (a connection or cursor)."""
    con.execute(f"set variable nir_snapshot = date '{snapshot.isoformat()}'")


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.snapshot = snapshot_from_env()

    def _set(self, con: Any) -> None:
        if self.snapshot is not None:
            set_snapshot(con, self.snapshot)

    def configure_connection(self, conn: Any) -> None:
        self._set(conn)

    def configure_cursor(self, cursor: Any) -> None:
        self._set(cursor)
