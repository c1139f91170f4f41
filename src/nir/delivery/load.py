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
import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from nir import faults
from nir.config import Settings
from nir.contracts import nir_export as spec
from nir.contracts.nir_export import ColType, FileSpec
from nir.delivery.check import (
    CheckedDelivery,
    DeliveryRejected,
    Problem,
    anomalies,
    parse_delivery,
    verdict_key,
)
from nir.delivery.pseudonymize import key_id, pseudonymise_table
from nir.errors import ContractError, DeliveryHeld, DeliveryNotFound, NirError, one_line, scrub
from nir.warehouse import connect, writer_lock

T = TypeVar("T")


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
        _keep_only_years(con, fspec)
    con.execute(LEVERANSER_DDL)


def _keep_only_years(con: duckdb.DuckDBPyConnection, fspec: FileSpec) -> None:
    """A warehouse written before birth dates were reduced to years: reduce them now."""
    have = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw' and table_name = ?",
            [fspec.table],
        ).fetchall()
    }
    for col in fspec.columns:
        if col.year_as and col.name in have:
            con.execute(f'alter table raw.{fspec.table} add column "{col.year_as}" integer')
            con.execute(f'update raw.{fspec.table} set "{col.year_as}" = year("{col.name}")')
            con.execute(f'alter table raw.{fspec.table} drop column "{col.name}"')
            con.execute("checkpoint")


def _typed(col: spec.Column) -> str:
    c = f'"{col.name}"'
    match col.type:
        case ColType.INTEGER:
            return f"cast({c} as bigint)"
        case ColType.DATE if col.year_as:
            return f"year(strptime({c}, '{spec.DATE_FORMAT}'))"
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
            parts.append(f'{_typed(col)} as "{col.year_as or col.name}"')
    return ", ".join(parts)


def _column_list(fspec: FileSpec) -> str:
    return ", ".join(f'"{n}"' for n, _ in spec.raw_columns(fspec))


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


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _file_facts(path: Path, settings: Settings) -> dict[str, Any]:
    """The manifest's rows and sha256 per contract file, for the log; nothing else of it."""
    try:
        mf = path / spec.MANIFEST
        if mf.is_symlink() or mf.stat().st_size > settings.max_manifest_bytes:
            return {}
        doc = json.loads(mf.read_bytes().decode("utf-8-sig"))
        files = doc.get("files")
        out: dict[str, Any] = {}
        for name in spec.FILES_BY_NAME:
            entry = files.get(name) if isinstance(files, dict) else None
            if not isinstance(entry, dict):
                continue
            rows, sha = entry.get("rows"), entry.get("sha256")
            out[name] = {
                "rows": rows if isinstance(rows, int) and 0 <= rows < 10**12 else None,
                "sha256": sha if isinstance(sha, str) and _HEX64.fullmatch(sha) else None,
            }
        return out
    except Exception:  # a broken manifest is what the problems say; the log keeps nothing of it
        return {}


def _copy_delivery(path: Path, target: Path) -> None:
    """Copy the delivery's regular contract files into ``target`` (never move, never follow
    a symlink): the landing folder stays as it was delivered."""
    for name in (spec.MANIFEST, *spec.FILES_BY_NAME):
        src = path / name
        with contextlib.suppress(OSError):
            if src.is_file() and not src.is_symlink():
                shutil.copyfile(src, target / name, follow_symlinks=False)
                os.chmod(target / name, 0o600)


def _new_report_dir(settings: Settings, snapshot: str, suffix: str = "") -> tuple[Path, str]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    settings.quarantine_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(settings.quarantine_dir, 0o700)
    target = settings.quarantine_dir / f"{snapshot}-{stamp}{suffix}"
    target.mkdir(mode=0o700)
    return target, stamp


def _snapshot_name(path: Path) -> str:
    """The folder name as it may appear in paths and messages (the snapshot date, normally)."""
    name = path.name
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", name):
        return name
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:40] or "delivery"


def _date_named(path: Path) -> date | None:
    """The date a delivery's folder is named by (``2024-03-01``), if it is."""
    try:
        return date.fromisoformat(path.name) if len(path.name) == 10 else None
    except ValueError:
        return None


def quarantine(settings: Settings, path: Path, problems: list[Problem]) -> Path:
    """Copy a rejected delivery into quarantine, with a readable report beside it.

    The delivery itself is left where it is, as it is: never moved, never emptied.
    """
    target, stamp = _new_report_dir(settings, _snapshot_name(path))
    _copy_delivery(path, target)
    lines = [
        f"Delivery {_snapshot_name(path)} was rejected on {stamp}; its files were copied here "
        f"from {path} (left there as delivered).",
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


def hold(settings: Settings, path: Path, snapshot: str, reasons: list[str]) -> Path:
    """Write the report of a held delivery (nothing is copied or moved)."""
    target, stamp = _new_report_dir(settings, snapshot, "-held")
    lines = [
        f"Delivery {snapshot} in {path} follows the contract but was held on {stamp}:",
        *[f"  - {r}" for r in reasons],
        "",
        "If the delivery is genuine, load it with `nir load --accept-anomaly <delivery>` (or",
        'trigger the DAG with the run conf {"accept_anomaly": true}); otherwise have it',
        "corrected and delivered again. This folder can then be deleted.",
    ]
    (target / "HELD.txt").write_text("\n".join(lines) + "\n", "utf-8")
    return target


def _existing_folder(settings: Settings, path: Path) -> Path:
    """``path`` resolved; a path that is not a folder is a mistake of the caller, not a
    delivery that breaks the contract: nothing is quarantined or logged."""
    resolved = Path(path).resolve()
    if not resolved.is_dir():
        what = "is a file, not a folder" if resolved.exists() else "does not exist"
        raise DeliveryNotFound(
            f"{path}: the delivery folder {what}; give a folder <landing>/<YYYY-MM-DD>/ "
            f"(the landing folder is {settings.landing})"
        )
    return resolved


def check_or_quarantine(
    settings: Settings, path: Path, *, checked_before: bool = False
) -> CheckedDelivery:
    """Check the delivery; if it breaks the contract, quarantine it and raise ContractError.

    A delivery that passes is remembered (:func:`_remember_passed`), so the run's ``load``,
    with ``checked_before``, does not run the value checks again on the same bytes.
    """
    path = _existing_folder(settings, path)
    started = time.monotonic()
    try:
        passed = (lambda key: _verdict(settings, key).is_file()) if checked_before else None
        delivery = parse_delivery(path, settings, values_passed=passed)
        _remember_passed(settings, verdict_key(delivery))
        return delivery
    except DeliveryRejected as exc:
        files = _file_facts(path, settings)
        try:
            target: Path | str = quarantine(settings, path, exc.problems)
        except OSError as write_error:  # still refuse the delivery, and say why there is no copy
            target = f"nowhere (the copy failed: {scrub(str(write_error), 120)})"
        _log(
            settings,
            {
                "time": datetime.now(UTC).isoformat(),
                "snapshot": _snapshot_name(path),
                "delivery": str(path),
                "outcome": "rejected",
                "files": files,
                "problems": [str(p) for p in exc.problems[:20]],
                "quarantine": str(target),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        err = ContractError(_snapshot_name(path), exc.problems)
        err.args = (one_line(f"{err.args[0]}; quarantined in {target}", 1000),)
        raise err from None


def _verdict(settings: Settings, key: str) -> Path:
    return settings.data_dir / "cache" / "contract" / key


def _remember_passed(settings: Settings, key: str) -> None:
    """Record that the bytes with this :func:`~nir.delivery.check.verdict_key` passed the
    value checks: an empty file named by the key, holding nothing of the delivery. A cache
    only: when it cannot be written the load checks the values again."""
    with contextlib.suppress(OSError):
        target = _verdict(settings, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()


def previous_snapshot(
    con: duckdb.DuckDBPyConnection, snapshot: date
) -> tuple[date, dict[str, int]] | None:
    """The newest snapshot in ``raw`` older than ``snapshot``, with its rows per table."""
    row = con.execute(
        "select max(snapshot_date) from raw.leveranser where snapshot_date < ?", [snapshot]
    ).fetchone()
    if not row or row[0] is None:
        return None
    prev = row[0]
    counts = {}
    for fspec in spec.FILES:
        n = con.execute(
            f"select count(*) from raw.{fspec.table} where snapshot_date = ?", [prev]
        ).fetchone()
        counts[fspec.table] = n[0] if n else 0
    return prev, counts


def _peek(settings: Settings, query: Callable[[duckdb.DuckDBPyConnection], T]) -> T | None:
    """``query`` on the warehouse opened read-only without waiting, or None when there is
    no warehouse, it is busy, or it has no raw tables yet: a look before the writer lock,
    never a reason to fail."""
    if not settings.warehouse.exists():
        return None
    try:
        con = connect(settings, read_only=True, timeout=0)
    except (NirError, duckdb.Error, OSError):
        return None
    try:
        return query(con)
    except duckdb.Error:
        return None
    finally:
        con.close()


def _replace_rows(
    con: duckdb.DuckDBPyConnection, fspec: FileSpec, table: Any, snapshot: date
) -> None:
    """The snapshot's rows of ``fspec``'s raw table replaced by ``table`` (typed on the way)."""
    view = f"_in_{fspec.table}"
    con.register(view, table)
    try:
        con.execute(f"delete from raw.{fspec.table} where snapshot_date = ?", [snapshot])
        faults.point(f"load:deleted:{fspec.table}")
        con.execute(
            f"insert into raw.{fspec.table} ({_column_list(fspec)}) "
            f"select ?::date as snapshot_date, {_select_list(fspec)} from {view}",
            [snapshot],
        )
    finally:
        con.unregister(view)


def _write_tables(
    con: duckdb.DuckDBPyConnection,
    delivery: CheckedDelivery,
    key: bytes,
    known_valid: frozenset[str],
) -> None:
    """Write the delivery's four tables in ``con``'s open transaction, pseudonymising.

    The identity numbers are pseudonymised here, in Python on this thread, while a second
    thread writes the other three tables (DuckDB works outside the GIL): at ten times the
    national scale each takes about two seconds. Only that thread uses ``con`` until it has
    ended; an error in it is raised here. The clear numbers are dropped as soon as they are
    pseudonymised, and never reach the connection.
    """
    snapshot = delivery.manifest.snapshot_date

    def write_others() -> None:
        for fspec in spec.FILES:
            if fspec is not spec.PERSONER:
                _replace_rows(con, fspec, delivery.tables[fspec.table], snapshot)

    with ThreadPoolExecutor(1, thread_name_prefix="nir-load-writer") as pool:
        written = pool.submit(write_others)
        try:
            personer = pseudonymise_table(delivery.tables["personer"], key, known_valid=known_valid)
            del delivery.tables["personer"]  # the clear identity numbers
        finally:
            wait([written])  # con is the writer's until it has ended
        written.result()  # its error, if any, raised here
    _replace_rows(con, spec.PERSONER, personer, snapshot)


def _newest_valid(
    settings: Settings, snapshot: date, kid: str | None = None
) -> tuple[str, frozenset[str]] | None:
    """The newest snapshot loaded before ``snapshot`` (under the key ``kid``, when given): its
    key id and the pseudonyms whose numbers it found valid. None when there is none or the
    warehouse cannot be read (:func:`_peek`): then every number is checked."""

    def query(con: duckdb.DuckDBPyConnection) -> tuple[str, frozenset[str]] | None:
        row = con.execute(
            "select snapshot_date, pseudonym_key_id from raw.leveranser "
            "where snapshot_date < $snapshot "
            "  and ($kid::varchar is null or pseudonym_key_id = $kid) "
            "order by snapshot_date desc limit 1",
            {"snapshot": snapshot, "kid": kid},
        ).fetchone()
        if row is None:
            return None
        valid = con.execute(
            "select fnr_pseudonym from raw.personer where fnr_gyldig and snapshot_date = ?",
            [row[0]],
        ).fetchall()
        return row[1], frozenset(r[0] for r in valid)

    return _peek(settings, query)


class _Held(Exception):
    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons


# --- load --------------------------------------------------------------------------------------
def load_delivery(settings: Settings, path: Path, *, accept_anomaly: bool = False) -> LoadResult:
    """Check and load one delivery (one transaction); see the module docstring.

    A delivery that follows the contract but looks wrong (:func:`nir.delivery.check.anomalies`:
    empty, dated after today, far fewer rows than the previous snapshot) is held, not loaded,
    unless ``accept_anomaly``: :class:`~nir.errors.DeliveryHeld` (exit 3).
    """
    started = time.monotonic()
    path = Path(path).resolve()
    # The pseudonyms whose numbers need no check again are read before the writer lock,
    # while the files are read and verified: those of the newest snapshot before the one the
    # folder is named by (the contract makes it the manifest's). When that snapshot was
    # loaded under another key, they are read again for this key.
    guess = _date_named(path)
    with ThreadPoolExecutor(1, thread_name_prefix="nir-load-peek") as pool:
        early = pool.submit(_newest_valid, settings, guess) if guess else None
        # the run's check_contract task checked these bytes' values a moment ago: not again
        delivery = check_or_quarantine(settings, path, checked_before=True)
        m = delivery.manifest
        key = settings.key_bytes()
        kid = key_id(key)
        found = early.result() if early and guess == m.snapshot_date else None
    if not found or found[0] != kid:
        found = _newest_valid(settings, m.snapshot_date, kid)
    known_valid = found[1] if found else frozenset()
    rows = {t: table.num_rows for t, table in delivery.tables.items()}
    files_json = json.dumps(m.files, sort_keys=True)
    entry: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(),
        "snapshot": m.snapshot_date.isoformat(),
        "kind": m.kind,
        "delivery": str(path),
        "files": m.files,
        "fingerprint": delivery.fingerprint,
    }

    held: list[str] = []
    with writer_lock(settings):
        con = connect(settings)
        try:
            ensure_schema(con)
            prior = con.execute(
                "select fingerprint, pseudonym_key_id from raw.leveranser where snapshot_date = ?",
                [m.snapshot_date],
            ).fetchone()
            reasons = anomalies(delivery, settings, previous_snapshot(con, m.snapshot_date))
            if reasons and not accept_anomaly and prior != (delivery.fingerprint, kid):
                raise _Held(reasons)
            if reasons:
                entry["accepted_anomalies"] = reasons
            if prior == (delivery.fingerprint, kid):
                result = LoadResult(m.snapshot_date, "unchanged", "already loaded", rows)
            else:
                con.begin()
                _write_tables(con, delivery, key, known_valid)
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
            entry.update(outcome="failed", message=scrub(str(exc), 300))
            entry["seconds"] = round(time.monotonic() - started, 3)
            _log(settings, entry)
            raise LoadError(
                f"could not write snapshot {m.snapshot_date} into {settings.warehouse}: "
                f"{scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}; "
                "nothing was loaded, fix the cause and rerun"
            ) from exc
        except _Held as exc:
            held = exc.reasons
        finally:
            con.close()
            delivery.tables.pop("personer", None)  # clear numbers not loaded: dropped as well

    if held:
        snap = m.snapshot_date.isoformat()
        report = hold(settings, path, snap, held)
        entry.update(outcome="held", reasons=held, report=str(report))
        entry["seconds"] = round(time.monotonic() - started, 3)
        _log(settings, entry)
        raise DeliveryHeld(snap, held, str(report))

    entry.update(outcome=result.outcome, message=result.message, rows=rows)
    entry["seconds"] = round(time.monotonic() - started, 3)
    _log(settings, entry)
    return result


def review(settings: Settings, path: Path) -> tuple[list[Problem], list[str]]:
    """What ``nir check`` reports: contract problems, else the anomalies a load would hold
    the delivery for (against the warehouse's previous snapshot when it can be read)."""
    try:
        delivery = parse_delivery(_existing_folder(settings, path), settings)
    except DeliveryRejected as exc:
        return exc.problems, []
    # when the warehouse is busy, the load compares again under its lock
    previous = _peek(settings, lambda con: previous_snapshot(con, delivery.manifest.snapshot_date))
    return [], anomalies(delivery, settings, previous)
