"""Pure-Python work on every core: shares of a job run in other processes at the same time.

``in_processes(calls)`` runs ``calls[0]`` in this process and each other call in its own
``python -m nir.processes`` child at the same time, and returns their results in order. A
call is ``(function, args)`` with a module-level function (pickled by reference: the child
imports its module) and picklable arguments; the child reads the pickled call on stdin and
writes the pickled result on stdout.

Why not :mod:`multiprocessing`: spawning re-imports the caller's main module (an Airflow
task's, a test runner's) and forking copies an Airflow task's threads and locks. A child
that fails raises :class:`ChildFailed` with the last line of its stderr (the whole of
it is logged).

The caller decides the shares (:func:`cores` is how many it may use): the charts of the
control lists (:mod:`nir.kommune.charts`). The secondary suppression's components would be
another, but a year's work is one component of about 85% of it (national scale): shared out
over two processes it took as long as on one.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

Call = tuple[Callable[..., Any], tuple[Any, ...]]


class ChildFailed(RuntimeError):
    """A share of the work failed in its child process."""


def cores() -> int:
    """The cores this process may run on (its affinity, which a container or taskset may
    narrow; ``os.cpu_count`` counts the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def in_processes(calls: Sequence[Call], *, what: str = "work") -> list[Any]:
    """``[f(*args) for f, args in calls]``, the first here and the others in child processes
    at the same time. ``what`` names the work in a child's failure."""
    if len(calls) <= 1:
        return [f(*args) for f, args in calls]
    with ThreadPoolExecutor(max_workers=len(calls) - 1) as pool:  # each waits on its child
        others = [pool.submit(_in_child, call, what, i) for i, call in enumerate(calls[1:], 2)]
        first = calls[0][0](*calls[0][1])  # this process does the first share meanwhile
        return [first, *(future.result() for future in others)]


def _in_child(call: Call, what: str, share: int) -> Any:
    proc = subprocess.run(
        [sys.executable, "-m", "nir.processes"],
        input=pickle.dumps(call),
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace")
        last = next((ln for ln in reversed(stderr.splitlines()) if ln.strip()), "no output")
        log.error("%s, share %d: the child's stderr:\n%s", what, share, stderr[-4000:])
        raise ChildFailed(
            f"{what}, share {share}, failed in its child process (exit {proc.returncode}): "
            f"{last[:500]}"
        )
    return pickle.loads(proc.stdout)  # our own child's output, never a file


def _main() -> None:  # a child: one pickled call in, its pickled result out
    function, args = pickle.load(sys.stdin.buffer)
    sys.stdout.buffer.write(pickle.dumps(function(*args)))


if __name__ == "__main__":
    _main()
