"""What every file written for the kommuner shares: owner-only folders and files (they hold
nir_lopenr), spreadsheet-safe text, the HTML templates and the reference year a snapshot
belongs to. Used by the control lists, the kommune packs and the IMDi tracker."""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from nir.config import Settings

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Make a text field safe for spreadsheets: a leading formula character gets a ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def reference_year(settings: Settings, snapshot: date) -> int:
    """The reference year whose annual deadline is the next one on or after ``snapshot``."""
    if snapshot <= settings.annual_deadline(snapshot.year - 1):
        return snapshot.year - 1
    return snapshot.year


def private_dir(path: Path) -> None:
    """``path`` as a folder only its owner can read (created when missing)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def open_private(path: Path, encoding: str) -> Any:
    """``path`` opened for writing text, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "w", encoding=encoding, newline="")


class PrivateFiles:
    """Owner-only text files written on a few threads while the caller renders the next.

    A kommune pack is four files, a snapshot's packs over a thousand: creating them is
    system calls that wait on the file system (more so while other writes are under way),
    which threads overlap with the rendering (their system calls release the GIL). Use as a
    context manager; :meth:`text` gives a buffer that is written when its block ends; leaving
    waits for every file and raises the first error.
    """

    def __init__(self, threads: int = 4) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="nir-files")
        self._pending: list[Any] = []

    @contextlib.contextmanager
    def text(self, path: Path, encoding: str) -> Iterator[io.StringIO]:
        """A buffer whose text is written to ``path`` (as by :func:`open_private`)."""
        buffer = io.StringIO(newline="")
        yield buffer
        self._pending.append(self._pool.submit(_write_private, path, buffer.getvalue(), encoding))

    def __enter__(self) -> PrivateFiles:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        self._pool.shutdown(wait=True)  # every file tried
        if kind is None:  # a failure of the block itself is not masked by a write's
            for done in self._pending:
                done.result()  # the first failed write raises


def _write_private(path: Path, text: str, encoding: str) -> None:
    with open_private(path, encoding) as f:
        f.write(text)


@functools.cache
def environment() -> Any:
    """The Jinja environment of the kommune-facing pages (every value escaped); one per
    process, so its templates are compiled once, not on every run (nor checked for changes:
    they are the package's files)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("nir.kommune", "templates"),
        autoescape=True,  # every value is escaped, whatever the template's extension
        undefined=StrictUndefined,
        auto_reload=False,
    )
