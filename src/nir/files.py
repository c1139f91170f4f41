"""Small file helpers shared by the steps that write what others read."""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` as :func:`atomic_write_bytes` does."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers see the old
    content or the new, never half of it. ``mode``: the file's permissions (set before the
    rename, so the content is never readable with wider ones)."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        if mode is not None:
            tmp.touch(mode=0o600)
            os.chmod(tmp, mode)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_kept(path: Path, version: str, field: str) -> dict:
    """``field`` of a cache file written by :func:`write_kept` with ``version``; empty when the
    file is missing, unreadable or of another version (a cache costs speed, never figures)."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("version") != version:
        return {}
    kept = doc.get(field)
    return kept if isinstance(kept, dict) else {}


def write_kept(path: Path, version: str, field: str, kept: dict, mode: int | None = None) -> None:
    """Write a cache file for :func:`read_kept`; a failure is logged, not raised."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"version": version, field: kept}
        atomic_write_text(path, json.dumps(doc, separators=(",", ":")), mode=mode)
    except OSError as exc:
        logging.getLogger(__name__).warning("cache %s not written: %s", path, exc)
