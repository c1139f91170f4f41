"""Small file helpers shared by the steps that write what others read."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers see the old
    content or the new, never half of it. ``mode``: the file's permissions (set before the
    rename, so the content is never readable with wider ones)."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        if mode is not None:
            tmp.touch(mode=0o600)
            os.chmod(tmp, mode)
        tmp.write_text(text, "utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
