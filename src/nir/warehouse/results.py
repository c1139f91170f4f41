"""The gate's verdicts as a warehouse table, ``gate.resultater``: written by :mod:`nir.gate`,
read by the publishing layer (a dbt source) and ``nir status``."""

from __future__ import annotations

import duckdb

RESULTS_TABLE = "gate.resultater"
_RESULTS_DDL = f"""
    create table if not exists {RESULTS_TABLE} (
        snapshot_date date not null,
        kjoring_id varchar not null,
        kjoring_tid timestamp not null,
        suite varchar not null,
        sjekk varchar not null,
        alvorlighet varchar not null,
        bestatt boolean not null,
        observert varchar,
        grense varchar,
        detalj varchar
    )
"""


def ensure_results_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``gate.resultater`` (a dbt source) when it does not exist."""
    con.execute("create schema if not exists gate")
    con.execute(_RESULTS_DDL)
