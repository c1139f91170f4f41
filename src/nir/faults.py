"""Named fault-injection points, for the tests that prove crashes and write errors are safe.

A test sets ``NIR_FAULT=<point>:<action>`` in a child process' environment; when the
pipeline reaches that point the process kills itself (``kill``: SIGKILL, no cleanup at all)
or fails with a full-disk error (``enospc``). Unset, a point costs one dictionary lookup.
"""

from __future__ import annotations

import errno
import os
import signal


def point(name: str) -> None:
    spec = os.environ.get("NIR_FAULT")
    if not spec:
        return
    where, _, action = spec.rpartition(":")
    if where != name:
        return
    if action == "enospc":
        raise OSError(errno.ENOSPC, f"No space left on device (injected at {name})")
    os.kill(os.getpid(), signal.SIGKILL)
