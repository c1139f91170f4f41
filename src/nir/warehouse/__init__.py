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


def connect(settings: Settings, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse. Writers must hold :func:`writer_lock`."""
    path: Path = settings.warehouse
    if read_only:
        if not path.exists():
            raise FileNotFoundError(f"no warehouse at {path}: load a delivery first (nir load)")
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return duckdb.connect(str(path))
