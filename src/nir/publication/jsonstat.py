"""The published tables as JSON-stat 2.0 datasets (the format of SSB's statistics bank API).

``write_jsonstat(con, catalog, out_dir, snapshot=..., published_at=...)`` writes one dataset
``<table>.json`` per published table, read from the published database that ``con`` has
attached and in use (tables in schema ``statistikk``, with the label tables
``statistikk.etiketter`` and ``statistikk.regioner``).

A dataset's dimensions are the table's grain (``rad``) in order, then ``ContentsCode``, the
measures (counts, hours, shares, revisions) as SSB's statistics bank names that dimension:

- ``nivaa`` is not a dimension: every region code belongs to one level (``0000`` the country,
  two digits a fylke, four a kommune), so it would only make the cube sparse; the level of
  each region is in ``extension.nivaa``;
- ``region`` is labelled with the table's ``region_navn`` (else the current name from
  ``regioner``), the other coded dimensions from ``etiketter`` (``kodeliste`` = the column);
  years and periods are their own labels;
- each measure has a unit (``personer``, ``timer``, ``andel``: shares are fractions in
  [0, 1], as in the tables) with its decimals.

Cell status, following SSB's symbols (``extension.statuskoder`` repeats them):

``:``  hidden by disclosure control (the value is null);
``*``  preliminary figure (foreløpige tall: the row's ``status`` is ``forelopig``);
``..`` no such cell in the table (a combination of categories the table does not have);
no status: a final figure.

Where the table has a per-measure status column ``<measure>_status`` (``:``, ``..``,
``forelopig``, ``endelig``), it decides; otherwise a null value is hidden when the row is
``prikket`` (or the table has no flag) and the row's ``status`` gives preliminary or final.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa

from nir.catalog import PublishedTable
from nir.files import atomic_write_bytes

SCHEMA = "statistikk"
CONTENTS = "ContentsCode"
HIDDEN, PRELIMINARY, MISSING = ":", "*", ".."
STATUS_CODES = {
    HIDDEN: "Vises ikke av konfidensialitetshensyn (skjult ved prikking)",
    PRELIMINARY: "Foreløpige tall",
    MISSING: "Tallgrunnlag mangler (ingen slik celle i tabellen)",
}
SOURCE = "Nasjonalt introduksjonsregister (NIR), IMDi"
TIME_COLUMNS = ("aar", "periode")
DIMENSION_LABELS = {
    "aar": "år",
    "periode": "måned",
    "region": "region",
    "kjonn": "kjønn",
    "aldersgruppe": "aldersgruppe",
    "landbakgrunn_gruppe": "landbakgrunn",
    "tiltakskode": "tiltak",
    "kontroll": "kontroll",
    "maal": "nøkkeltall",
    CONTENTS: "statistikkvariabel",
}
UNITS = {
    "antall": ("personer", 0),
    "timer": ("timer", 1),
    "andel": ("andel (0-1)", 3),
    "revisjon": ("personer", 0),
}


def measures(table: PublishedTable) -> dict[str, str]:
    """The table's value columns (measure -> unit kind), in the order of its columns."""
    return table.measures


def write_jsonstat(
    con: duckdb.DuckDBPyConnection,
    catalog: Mapping[str, PublishedTable],
    out_dir: Path,
    *,
    snapshot: date,
    published_at: str,
) -> list[Path]:
    """Write ``<out_dir>/<table>.json`` (JSON-stat 2.0) for every published table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = _labels(con)
    region_names = _region_names(con)
    written = []
    for table in catalog.values():
        if not table.rad:  # not a table of figures (a label table): nothing to write
            continue
        doc = dataset(
            con,
            table,
            labels=labels,
            region_names=region_names,
            snapshot=snapshot,
            published_at=published_at,
        )
        path = out_dir / f"{table.name}.json"
        # msgspec writes what json.dumps(doc, ensure_ascii=False, separators=(",", ":")) does
        # (exponents shorter: 1e16, not 1e+16; tests/test_jsonstat.py), ~35 times faster: 0.5 s
        # of a national publish
        atomic_write_bytes(path, msgspec.json.encode(doc))
        written.append(path)
    return written


def dataset(
    con: duckdb.DuckDBPyConnection,
    table: PublishedTable,
    *,
    labels: dict[str, dict[str, tuple[str, int]]],
    region_names: dict[str, str],
    snapshot: date,
    published_at: str,
) -> dict[str, Any]:
    """One published table as a JSON-stat 2.0 dataset (a dict of JSON types)."""
    types = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [SCHEMA, table.name],
        ).fetchall()
    )
    if not types:
        raise ValueError(f"the published database has no {SCHEMA}.{table.name}")
    value_cols = {m: k for m, k in measures(table).items() if m in types}
    dims = [c for c in table.rad if c != "nivaa"]
    cols = _columns(con, table.name, types, codes=dims, numbers=list(value_cols))
    n = len(next(iter(cols.values()), []))
    absent = np.full(n, None, dtype=object)
    codes = {d: cols[d] for d in dims}

    categories: dict[str, list[str]] = {}
    cat_labels: dict[str, dict[str, str]] = {}
    nivaa_of: dict[str, str] = {}
    for d in dims:
        distinct = set(pd.unique(codes[d]).tolist())
        if d == "region":
            nivaa_of = _last(codes[d], cols.get("nivaa", absent))
            names = _last(codes[d], cols.get("region_navn", absent))
            order = {"land": 0, "fylke": 1, "kommune": 2}
            categories[d] = sorted(distinct, key=lambda c: (order.get(nivaa_of.get(c), 3), c))
            cat_labels[d] = {c: names.get(c) or region_names.get(c) or c for c in categories[d]}
        elif d in labels:
            known = labels[d]
            categories[d] = sorted(distinct, key=lambda c: (known.get(c, ("", 10**6))[1], c))
            cat_labels[d] = {c: known[c][0] if c in known else c for c in categories[d]}
        else:
            categories[d] = sorted(distinct)
            cat_labels[d] = {c: c for c in categories[d]}
    categories[CONTENTS] = list(value_cols)
    cat_labels[CONTENTS] = {m: _measure_label(table, m, labels.get("maal", {})) for m in value_cols}
    ids = [*dims, CONTENTS]
    size = [len(categories[d]) for d in ids]
    strides = [1] * len(ids)
    for i in range(len(ids) - 2, -1, -1):
        strides[i] = strides[i + 1] * size[i + 1]
    total = strides[0] * size[0] if ids else 0

    # each row's place in the cube: the sum over its dimensions of category index x stride
    base = np.zeros(n, dtype=np.int64)
    for d, stride in zip(dims, strides, strict=False):
        index = pd.Categorical(codes[d], categories=categories[d]).codes.astype(np.int64)
        base += index * stride
    values = np.full(total, None, dtype=object)
    filled = np.zeros(total, dtype=bool)
    # cell positions and status marks, row by row and within a row measure by measure
    positions = np.empty((n, len(value_cols)), dtype=np.int64)
    marks = np.empty((n, len(value_cols)), dtype=object)
    for j, m in enumerate(value_cols):
        offset = j * strides[-1]
        values[base + offset] = cols[m]
        filled[base + offset] = True
        positions[:, j] = base + offset
        marks[:, j] = _cell_status(cols, m)
    marks, positions = marks.ravel(), positions.ravel()
    marked = np.flatnonzero(marks != None)  # noqa: E711 (elementwise)
    status = dict(zip(positions[marked].astype(str).tolist(), marks[marked].tolist(), strict=True))
    status.update(dict.fromkeys(np.flatnonzero(~filled).astype(str).tolist(), MISSING))

    dimension: dict[str, Any] = {}
    for d in ids:
        cat: dict[str, Any] = {
            "index": categories[d],
            "label": cat_labels[d],
        }
        if d == CONTENTS:
            cat["unit"] = {
                m: {"label": UNITS[k][0], "decimals": UNITS[k][1]} for m, k in value_cols.items()
            }
        dimension[d] = {"label": DIMENSION_LABELS.get(d, d), "category": cat}
    role: dict[str, list[str]] = {"metric": [CONTENTS]}
    time = [d for d in dims if d in TIME_COLUMNS]
    if time:
        role["time"] = time
    if "region" in dims:
        role["geo"] = ["region"]
    sources = sorted(
        con.execute(
            "select distinct cast(snapshot_date as varchar), status "
            f"from {SCHEMA}.{_q(table.name)} where snapshot_date is not null"
        ).fetchall()
        if "snapshot_date" in types and "status" in types
        else []
    )
    return {
        "version": "2.0",
        "class": "dataset",
        "label": f"{table.name}: {table.description}",
        "source": SOURCE,
        "updated": published_at,
        "id": ids,
        "size": size,
        "role": role,
        "dimension": dimension,
        "value": values.tolist(),
        "status": status,
        "note": [
            f"Published from snapshot {snapshot.isoformat()}.",
            "Status: ':' hidden by disclosure control, '*' preliminary figure, '..' no such "
            "cell; no status: final figure.",
            "Shares are fractions in [0, 1].",
        ],
        "extension": {
            "tabell": table.name,
            "snapshot": snapshot.isoformat(),
            "publisert": published_at,
            "kilder": [{"snapshot_date": s, "status": st} for s, st in sources],
            "nivaa": {c: nivaa_of[c] for c in categories.get("region", []) if c in nivaa_of},
            "statuskoder": STATUS_CODES,
            "kolonner": {m: table.column_docs.get(m, "") for m in value_cols},
        },
    }


def _cell_status(cols: dict[str, np.ndarray], measure: str) -> np.ndarray:
    """Every row's status mark for ``measure``: its own status column where it has one, else
    hidden (or no figure) when blank, preliminary when the row is."""
    numbers = cols[measure]
    n = len(numbers)
    blank = np.equal(numbers, None)
    flag = cols.get("prikket")
    hidden = np.ones(n, dtype=bool) if flag is None else np.equal(flag, True)
    preliminary = np.equal(cols.get("status", np.full(n, None, dtype=object)), "forelopig")
    marks = np.where(
        blank,
        np.where(hidden, HIDDEN, MISSING),
        np.where(preliminary, PRELIMINARY, None),
    ).astype(object)
    own = cols.get(f"{measure}_status")
    if own is not None:
        has = ~np.equal(own, None)
        from_own = np.where(
            np.isin(own, [HIDDEN, MISSING]),
            own,
            np.where(np.equal(own, "forelopig"), PRELIMINARY, None),
        ).astype(object)
        marks = np.where(has, from_own, marks).astype(object)
    return marks


def _columns(
    con: duckdb.DuckDBPyConnection,
    name: str,
    types: dict[str, str],
    *,
    codes: list[str],
    numbers: list[str],
) -> dict[str, np.ndarray]:
    """What a dataset reads of the published table, by column (an object array each, in row
    order): ``codes`` as text (a date as ISO 8601), ``numbers`` as JSON numbers (an integer, a
    whole decimal as an integer, any other decimal as the nearest double: DuckDB divides the
    exact integer by a power of ten, which rounds as ``float(Decimal)`` does), and the columns
    that decide a cell's status and a region's level and name."""
    statuses = [f"{m}_status" for m in numbers]
    wanted = [
        c
        for c in types
        if c in codes or c in numbers or c in statuses
        or c in ("nivaa", "region_navn", "prikket", "status")
    ]  # fmt: skip

    def select(c: str) -> str:
        ty = types[c]
        if c in codes:
            return f"cast({_q(c)} as varchar) as {_q(c)}"
        if c in numbers and ty.startswith("DECIMAL"):
            scale = int(ty.rstrip(")").split(",")[1])
            return f"cast({_q(c)} as {'bigint' if scale == 0 else 'double'}) as {_q(c)}"
        return _q(c)

    query = f"select {', '.join(select(c) for c in wanted)} from {SCHEMA}.{_q(name)}"
    table = con.sql(query).to_arrow_table()
    return {c: _objects(table.column(c)) for c in wanted}


def _objects(column: pa.ChunkedArray) -> np.ndarray:
    """An Arrow column as an object array of Python values (None where null)."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        valid = column.is_valid().to_numpy(zero_copy_only=False)
        out = column.fill_null(0).to_numpy().astype(object)
        out[~valid] = None
        return out
    return np.array(column.to_pylist(), dtype=object)


def _last(keys: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    """key -> the value of its last row."""
    return dict(zip(keys.tolist(), values.tolist(), strict=True))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _measure_label(table: PublishedTable, m: str, maal_labels: dict[str, tuple[str, int]]) -> str:
    if m in maal_labels:
        return maal_labels[m][0]
    return m.replace("_", " ").capitalize()


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [SCHEMA, name],
    ).fetchone()
    return bool(row and row[0])


def _labels(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, tuple[str, int]]]:
    """kodeliste -> kode -> (etikett, rekkefolge), from statistikk.etiketter."""
    if not _has_table(con, "etiketter"):
        return {}
    out: dict[str, dict[str, tuple[str, int]]] = {}
    for liste, kode, etikett, rekke in con.execute(
        f"select kodeliste, kode, etikett, rekkefolge from {SCHEMA}.etiketter"
    ).fetchall():
        out.setdefault(liste, {})[kode] = (etikett, rekke if rekke is not None else 0)
    return out


def _region_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """region -> its current name, from statistikk.regioner."""
    if not _has_table(con, "regioner"):
        return {}
    return dict(
        con.execute(
            f"select region, region_navn from {SCHEMA}.regioner where gyldig_til is null"
        ).fetchall()
    )
