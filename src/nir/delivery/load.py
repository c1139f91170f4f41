"""Load a checked delivery into the warehouse's raw tables: all four files or nothing.

The raw tables (schema ``raw``) hold every snapshot, typed, one partition per
``snapshot_date``; ``raw.leveranser`` has one row per loaded snapshot. Loading is idempotent:
the same delivery again changes nothing, a corrected re-delivery of a snapshot replaces that
snapshot, and snapshots may arrive in any order. Every attempt, including rejected ones, is
appended to the load log (``data/logs/load_log.jsonl``), which lives outside the warehouse so
that a rejected delivery leaves the warehouse byte-for-byte as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from nir import faults
from nir.config import Settings
from nir.contracts import nir_export as spec
from nir.contracts.nir_export import ColType, FileSpec
from nir.delivery.check import CheckedDelivery, DeliveryRejected, Problem, parse_delivery
from nir.delivery.pseudonymize import key_id, pseudonymise_table
from nir.errors import ContractError, NirError
from nir.warehouse import connect, writer_lock


class LoadError(NirError):
    """The warehouse could not be written (disk full, permissions). Nothing was loaded."""

    exit_code = 5
    transient = True


@dataclass
class LoadResult:
    snapshot_date: date
    outcome: str  # "loaded", "replaced" or "unchanged"
    message: str
    rows: dict[str, int] = field(default_factory=dict)


# --- schema ------------------------------------------------------------------------------------
LEVERANSER_DDL = """
create table if not exists raw.leveranser (
    snapshot_date date primary key,
    kind varchar not null,
    extracted_at timestamptz not null,
    contract_version varchar not null,
    encoding varchar not null,
    fingerprint varchar not null,
    pseudonym_key_id varchar not null,
    files json not null,
    loaded_at timestamptz not null
)
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    for fspec in spec.FILES:
        cols = ", ".join(f'"{n}" {t}' for n, t in spec.raw_columns(fspec))
        con.execute(f"create table if not exists raw.{fspec.table} ({cols})")
    con.execute(LEVERANSER_DDL)


def _typed(col: spec.Column) -> str:
    c = f'"{col.name}"'
    match col.type:
        case ColType.INTEGER:
            return f"cast({c} as bigint)"
        case ColType.DATE:
            return f"cast(strptime({c}, '{spec.DATE_FORMAT}') as date)"
        case ColType.TIMESTAMP:
            return f"strptime({c}, '{spec.TIMESTAMP_FORMAT}')"
        case ColType.DECIMAL:
            return f"cast(replace({c}, ',', '.') as {col.type.sql})"
        case ColType.BOOLEAN:
            return f"({c} = '{spec.TRUE}')"
        case _:
            return c


def _select_list(fspec: FileSpec) -> str:
    parts = []
    for col in fspec.columns:
        if col.type is ColType.FNR:
            parts += ["fnr_pseudonym", "fnr_gyldig"]
        else:
            parts.append(f'{_typed(col)} as "{col.name}"')
    return ", ".join(parts)


# --- load log and quarantine -------------------------------------------------------------------
def _log(settings: Settings, entry: dict[str, Any]) -> None:
    settings.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(settings.load_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")


def read_load_log(settings: Settings) -> list[dict[str, Any]]:
    if not settings.load_log.exists():
        return []
    return [json.loads(line) for line in settings.load_log.read_text("utf-8").splitlines()]


def _file_facts(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads((path / spec.MANIFEST).read_bytes().decode("utf-8-sig"))
        return dict(doc.get("files") or {})
    except (OSError, ValueError, AttributeError):
        return {}


def quarantine(settings: Settings, path: Path, problems: list[Problem]) -> Path:
    """Move a rejected delivery out of the landing area, with a readable report beside it.

    A delivery outside the landing area (given by hand) is copied, not moved.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = settings.quarantine_dir / f"{path.name}-{stamp}"
    settings.quarantine_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        inside_landing = path.resolve().is_relative_to(settings.landing.resolve())
    except OSError:
        inside_landing = False
    if path.is_dir():
        if inside_landing:
            shutil.move(str(path), target)
        else:
            shutil.copytree(path, target, symlinks=True)
    else:
        target.mkdir(mode=0o700)
    lines = [
        f"Delivery {path.name} was rejected on {stamp} and moved here from {path}.",
        "Problems (file, line, column: what is wrong; what to do):",
        *[f"  - {p}" for p in problems],
        "",
        "Fix the export and deliver the snapshot again into the landing area;",
        "the pipeline loads it on the next run. This folder can then be deleted.",
    ]
    (target / "REJECTED.txt").write_text("\n".join(lines) + "\n", "utf-8")
    (target / "rejected.json").write_text(
        json.dumps([p.as_dict() for p in problems], ensure_ascii=False, indent=2), "utf-8"
    )
    return target


def check_or_quarantine(settings: Settings, path: Path) -> CheckedDelivery:
    """Check the delivery; if it breaks the contract, quarantine it and raise ContractError."""
    path = Path(path)
    started = time.monotonic()
    try:
        return parse_delivery(path, settings)
    except DeliveryRejected as exc:
        files = _file_facts(path)
        target = quarantine(settings, path, exc.problems)
        _log(
            settings,
            {
                "time": datetime.now(UTC).isoformat(),
                "snapshot": path.name,
                "delivery": str(path),
                "outcome": "rejected",
                "files": files,
                "problems": [str(p) for p in exc.problems],
                "quarantine": str(target),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        err = ContractError(path.name, exc.problems)
        err.args = (f"{err.args[0]}; quarantined in {target}",)
        raise err from None


# --- load --------------------------------------------------------------------------------------
def load_delivery(settings: Settings, path: Path) -> LoadResult:
    """Check and load one delivery (one transaction); see the module docstring."""
    started = time.monotonic()
    delivery = check_or_quarantine(settings, Path(path))
    m = delivery.manifest
    key = settings.key_bytes()
    kid = key_id(key)
    tables = dict(delivery.tables)
    tables["personer"] = pseudonymise_table(tables["personer"], key)
    del delivery.tables["personer"]  # drop the clear identity numbers as early as possible
    rows = {t: tables[t].num_rows for t in tables}
    files_json = json.dumps(m.files, sort_keys=True)
    entry: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(),
        "snapshot": m.snapshot_date.isoformat(),
        "kind": m.kind,
        "delivery": str(path),
        "files": m.files,
        "fingerprint": delivery.fingerprint,
    }

    with writer_lock(settings):
        con = connect(settings)
        try:
            ensure_schema(con)
            prior = con.execute(
                "select fingerprint, pseudonym_key_id from raw.leveranser where snapshot_date = ?",
                [m.snapshot_date],
            ).fetchone()
            if prior == (delivery.fingerprint, kid):
                result = LoadResult(m.snapshot_date, "unchanged", "already loaded", rows)
            else:
                con.begin()
                for fspec in spec.FILES:
                    view = f"_in_{fspec.table}"
                    con.register(view, tables[fspec.table])
                    con.execute(
                        f"delete from raw.{fspec.table} where snapshot_date = ?",
                        [m.snapshot_date],
                    )
                    faults.point(f"load:deleted:{fspec.table}")
                    con.execute(
                        f"insert into raw.{fspec.table} select ?::date as snapshot_date, "
                        f"{_select_list(fspec)} from {view}",
                        [m.snapshot_date],
                    )
                    con.unregister(view)
                con.execute("delete from raw.leveranser where snapshot_date = ?", [m.snapshot_date])
                con.execute(
                    "insert into raw.leveranser values (?, ?, ?, ?, ?, ?, ?, ?, now())",
                    [
                        m.snapshot_date,
                        m.kind,
                        m.extracted_at,
                        m.contract_version,
                        m.encoding,
                        delivery.fingerprint,
                        kid,
                        files_json,
                    ],
                )
                faults.point("load:before_commit")
                con.commit()
                faults.point("load:after_commit")
                outcome = "replaced" if prior else "loaded"
                result = LoadResult(
                    m.snapshot_date,
                    outcome,
                    ", ".join(f"{t} {n}" for t, n in rows.items()) + " rows",
                    rows,
                )
        except (duckdb.Error, OSError) as exc:
            with contextlib.suppress(duckdb.Error):
                con.rollback()
            entry.update(outcome="failed", message=str(exc)[:300])
            entry["seconds"] = round(time.monotonic() - started, 3)
            _log(settings, entry)
            raise LoadError(
                f"could not write snapshot {m.snapshot_date} into {settings.warehouse}: "
                f"{str(exc).splitlines()[0][:200]}; nothing was loaded, fix the cause and rerun"
            ) from exc
        finally:
            con.close()

    entry.update(outcome=result.outcome, message=result.message, rows=rows)
    entry["seconds"] = round(time.monotonic() - started, 3)
    _log(settings, entry)
    return result
