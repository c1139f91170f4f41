"""Write deliveries in the export contract's dialect (for the generator and test fixtures).

The one place that knows how a Python value is spelled in a delivery: dates ``dd.mm.yyyy``,
timestamps ``dd.mm.yyyy HH:MM:SS``, decimals with a comma, booleans ``J``/``N``, empty for
"not registered". The manifest is written last and atomically, as the real export does, so
a folder without a manifest is a delivery still being written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from nir.contracts import nir_export as spec
from nir.files import atomic_write_text

OSLO = ZoneInfo(spec.TIMEZONE)


def format_value(value: Any) -> str:
    """Spell one value as the contract does."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return spec.TRUE if value else spec.FALSE
    if isinstance(value, datetime):
        return value.strftime(spec.TIMESTAMP_FORMAT)
    if isinstance(value, date):
        return value.strftime(spec.DATE_FORMAT)
    if isinstance(value, float | Decimal):
        return f"{value:.1f}".replace(".", ",")
    return str(value)


def encode_csv(
    header: Sequence[str],
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    *,
    encoding: str = "utf-8",
    bom: bool = False,
    crlf: bool = False,
) -> tuple[bytes, int]:
    """The bytes of one CSV file and its number of data rows."""
    buf = io.StringIO()
    writer = csv.writer(
        buf,
        delimiter=spec.DELIMITER,
        quotechar=spec.QUOTECHAR,
        lineterminator="\r\n" if crlf else "\n",
        quoting=csv.QUOTE_MINIMAL,
    )
    writer.writerow(header)
    n = 0
    for row in rows:
        values = [row.get(c) for c in header] if isinstance(row, Mapping) else list(row)
        writer.writerow([format_value(v) for v in values])
        n += 1
    codec = "cp1252" if encoding == "windows-1252" else "utf-8"
    data = buf.getvalue().encode(codec)
    if bom and encoding == "utf-8":
        data = b"\xef\xbb\xbf" + data
    return data, n


def write_manifest(
    folder: Path,
    *,
    snapshot: date,
    kind: str,
    encoding: str,
    files: Mapping[str, tuple[int, str]],
    extracted_at: datetime | None = None,
) -> Path:
    """Write ``manifest.json`` atomically; ``files`` maps name -> (rows, sha256)."""
    extracted_at = extracted_at or datetime.combine(snapshot, time(2, 13, 7), OSLO)
    doc = {
        "contract_version": spec.CONTRACT_VERSION,
        "kind": kind,
        "snapshot_date": snapshot.isoformat(),
        "extracted_at": extracted_at.isoformat(),
        "encoding": encoding,
        "files": {name: {"rows": r, "sha256": sha} for name, (r, sha) in files.items()},
    }
    return atomic_write_text(
        folder / spec.MANIFEST, json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    )


def write_delivery(
    landing: Path,
    snapshot: date,
    tables: Mapping[str, Iterable[Mapping[str, Any] | Sequence[Any]]],
    *,
    kind: str = "monthly",
    encoding: str = "utf-8",
    bom: bool = False,
    crlf: bool = False,
    extracted_at: datetime | None = None,
) -> Path:
    """Write ``<landing>/<snapshot>/`` with the four CSV files and, last, the manifest.

    ``tables`` maps raw table name (``personer``, ...) to rows (dicts by column name, or
    sequences in the contract's column order).
    """
    folder = Path(landing) / snapshot.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, tuple[int, str]] = {}
    for fspec in spec.FILES:
        data, n = encode_csv(
            fspec.header, tables.get(fspec.table, []), encoding=encoding, bom=bom, crlf=crlf
        )
        (folder / fspec.name).write_bytes(data)
        files[fspec.name] = (n, hashlib.sha256(data).hexdigest())
    write_manifest(
        folder,
        snapshot=snapshot,
        kind=kind,
        encoding=encoding,
        files=files,
        extracted_at=extracted_at,
    )
    return folder


def refresh_manifest(folder: Path) -> None:
    """Recompute rows and sha256 in an existing delivery's manifest (for test fixtures)."""
    doc = json.loads((folder / spec.MANIFEST).read_text("utf-8"))
    for name in doc["files"]:
        data = (folder / name).read_bytes()
        rows = max(data.count(b"\n") - 1, 0)
        doc["files"][name] = {"rows": rows, "sha256": hashlib.sha256(data).hexdigest()}
    (folder / spec.MANIFEST).write_text(json.dumps(doc, indent=2) + "\n", "utf-8")
