"""Small reads of a DuckDB database shared by the suites."""

from __future__ import annotations

import duckdb


def columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """The columns of ``schema.table`` in order; empty when the table does not exist."""
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def schema_columns(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, list[str]]:
    """Every table of ``schema`` with its columns in order, in one read."""
    out: dict[str, list[str]] = {}
    for table, column in con.execute(
        "select table_name, column_name from information_schema.columns "
        "where table_schema = ? order by table_name, ordinal_position",
        [schema],
    ).fetchall():
        out.setdefault(table, []).append(column)
    return out
