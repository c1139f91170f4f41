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

import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from nir.catalog import PublishedTable
from nir.files import atomic_write_text

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
        atomic_write_text(path, json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
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
    """One published table as a JSON-stat 2.0 dataset (a dict ready for ``json.dumps``)."""
    present = [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [SCHEMA, table.name],
        ).fetchall()
    ]
    if not present:
        raise ValueError(f"the published database has no {SCHEMA}.{table.name}")
    value_cols = {m: k for m, k in measures(table).items() if m in present}
    dims = [c for c in table.rad if c != "nivaa"]
    cols = _columns(con, table.name)
    n = len(next(iter(cols.values()), []))
    absent = [None] * n
    # each dimension's codes once per row, not once per use
    codes = {d: [_code(v) for v in cols[d]] for d in dims}

    categories: dict[str, list[str]] = {}
    cat_labels: dict[str, dict[str, str]] = {}
    nivaa_of: dict[str, str] = {}
    for d in dims:
        distinct = set(codes[d])
        if d == "region":
            nivaa_of = dict(zip(codes[d], cols.get("nivaa", absent), strict=True))
            names = dict(zip(codes[d], cols.get("region_navn", absent), strict=True))
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
    base = [0] * n
    for d, stride in zip(dims, strides, strict=False):
        position = {c: i * stride for i, c in enumerate(categories[d])}
        base = [b + position[c] for b, c in zip(base, codes[d], strict=True)]
    values: list[Any] = [None] * total
    filled = [False] * total
    # per measure: the value and the status mark of every row, written in row order below
    per_measure = []
    for j, m in enumerate(value_cols):
        numbers = [_number(v) for v in cols[m]]
        marks = _cell_status(cols, m, numbers)
        offset = j * strides[-1]
        for b, v in zip(base, numbers, strict=True):
            values[b + offset] = v
            filled[b + offset] = True
        per_measure.append((offset, marks))
    status: dict[str, str] = {}
    for k, b in enumerate(base):
        for offset, marks in per_measure:
            if marks[k]:
                status[str(b + offset)] = marks[k]
    for i, f in enumerate(filled):
        if not f:
            status[str(i)] = MISSING

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
        {
            (str(d), st)
            for d, st in zip(
                cols.get("snapshot_date", absent), cols.get("status", absent), strict=True
            )
            if d is not None
        }
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
        "value": values,
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


def _cell_status(cols: dict[str, list[Any]], measure: str, numbers: list[Any]) -> list[str | None]:
    """Every row's status mark for ``measure``: its own status column where it has one, else
    hidden (or no figure) when blank, preliminary when the row is."""
    n = len(numbers)
    own = cols.get(f"{measure}_status", [None] * n)
    flag = cols.get("prikket")
    row_status = cols.get("status", [None] * n)
    marks: list[str | None] = []
    for k in range(n):
        s = own[k]
        if s is not None:
            marks.append(s if s in (HIDDEN, MISSING) else PRELIMINARY if s == "forelopig" else None)
        elif numbers[k] is None:
            marks.append(HIDDEN if flag is None or flag[k] else MISSING)
        else:
            marks.append(PRELIMINARY if row_status[k] == "forelopig" else None)
    return marks


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, list[Any]]:
    """The published table by column (name -> its values in row order)."""
    cur = con.execute(f'select * from {SCHEMA}."{name}"')
    names = [c[0] for c in cur.description]
    rows = cur.fetchall()
    return {c: [r[i] for r in rows] for i, c in enumerate(names)}


def _code(v: Any) -> str:
    return v.isoformat() if isinstance(v, date) else str(v)


def _number(v: Any) -> int | float | None:
    if v is None:
        return None
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() and v.as_tuple().exponent >= 0 else float(v)
    return v


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
