"""The DuckDB warehouse: one writer at a time, guarded by a lock file.

DuckDB lets one process hold a database file for writing, and while it does, no other
process can open it at all. Every step that writes the warehouse (load, dbt, publish
bookkeeping) takes :func:`writer_lock` first, so a second run waits for the first one
(up to ``timeout`` seconds) and then stops with a clear message instead of failing on a
lock error halfway through.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from nir.config import Settings
from nir.errors import WarehouseBusyError


@contextmanager
def writer_lock(settings: Settings, timeout: float | None = None) -> Iterator[None]:
    """Hold the warehouse's writer lock; wait up to ``timeout`` s, then raise."""
    timeout = settings.lock_timeout_seconds if timeout is None else timeout
    lock_path = settings.warehouse.with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # nir_lopenr inside
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(
                        f"the warehouse {settings.warehouse} is busy: another run holds "
                        f"{lock_path} (waited {timeout:.0f} s); wait for it to finish, "
                        "then run again"
                    ) from None
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# The warehouse files kept open by held_open, by resolved path
_held: dict[Path, duckdb.DuckDBPyConnection] = {}


@contextmanager
def held_open(settings: Settings) -> Iterator[None]:
    """Keep the warehouse open for the block: :func:`connect` inside it returns a cursor on
    this one DuckDB instance instead of opening the file again.

    An open costs ~20 ms at any scale (~11 ms of it DuckDB's new instance: its catalog and
    built-in extensions), and a step that reads, checks and records in separate functions
    opens the file several times. For a block that holds :func:`writer_lock` and runs no
    dbt (dbt opens the file itself): a cursor asked for ``read_only`` can write here.
    """
    path = settings.warehouse.resolve()
    if path in _held:
        yield
        return
    con = connect(settings)
    _held[path] = con
    try:
        yield
    finally:
        del _held[path]
        con.close()


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    text = str(exc)
    return "lock" in text.lower() and ("Conflicting lock" in text or "Could not set lock" in text)


def _busy(path: Path, timeout: float, exc: duckdb.Error) -> WarehouseBusyError:
    holder = re.search(r"\(PID (\d+)\)", str(exc))
    who = f"process {holder.group(1)}" if holder else "another process"
    return WarehouseBusyError(
        f"the warehouse {path} is busy: {who} has it open (a reader or another run; "
        f"waited {timeout:.0f} s); close that connection or wait for the run to finish, "
        "then run again"
    )


def connect(
    settings: Settings, *, read_only: bool = False, timeout: float | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse. Writers must hold :func:`writer_lock`.

    DuckDB refuses a file another process holds (a writer, or for writers also a reader);
    that is a busy warehouse, as when our own lock is taken: wait up to ``timeout`` seconds
    (``lock_timeout_seconds``), then :class:`~nir.errors.WarehouseBusyError` (exit 4).
    """
    path: Path = settings.warehouse
    if _held and (held := _held.get(path.resolve())) is not None:
        return held.cursor()
    timeout = settings.lock_timeout_seconds if timeout is None else timeout
    if read_only:
        if not path.exists():
            raise FileNotFoundError(f"no warehouse at {path}: load a delivery first (nir load)")
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_conflict(exc):
                raise
            if time.monotonic() >= deadline:
                raise _busy(path, timeout, exc) from None
            time.sleep(0.5)
