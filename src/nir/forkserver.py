"""Independent calls run at the same time, in children forked from a clean server process.

Why not :mod:`multiprocessing`: its ``fork`` context copies the caller, whose threads and
locks an Airflow task or a test runner owns (a child can hang on a lock a thread held at the
fork); its ``spawn`` and ``forkserver`` children first re-run the caller's ``__main__``, which
in a deployed Airflow task is the ``airflow`` script and cannot be imported there. A fresh
interpreter per call pays the imports (~1.5 s for numpy, pandas and scipy) every time.

So: :class:`ForkServer` starts ``python -m nir.forkserver <modules>``, a single-threaded
process that imports ``modules`` once and then, per batch of calls, forks one child per call.
A child runs its call, writes the pickled result (or the exception) to a file of its own and
exits; the server waits for all of them and answers with the results in order. The caller
sends a batch, does its own share meanwhile, then reads the answer (:meth:`ForkServer.start`
and :meth:`Batch.results`). Calls and results cross the process boundary pickled: a call is a
module-level function and picklable arguments.

The server ends when its caller does (end of file on its request pipe).
"""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

Call = tuple[Callable[..., Any], tuple[Any, ...]]


class ChildFailed(RuntimeError):
    """A child ended without a result (killed, out of memory) or its result did not pickle."""


class Batch:
    """Calls running in the server's children; :meth:`results` waits for them."""

    def __init__(self, server: ForkServer) -> None:
        self._server = server
        self._done: list[Any] | None = None

    def ended(self) -> bool:
        """Whether every call has ended (the answer can be read without waiting)."""
        return self._done is not None or self._server._answered()

    def wait(self) -> None:
        """Wait until every call has ended (raises only when the server itself failed)."""
        if self._done is None:
            self._done = self._server._receive()

    def results(self) -> list[Any]:
        """The calls' return values in order; the first call that raised raises here (with
        the child's traceback as its note)."""
        self.wait()
        assert self._done is not None
        out = []
        for ok, value, trace in self._done:
            if not ok:
                if isinstance(value, BaseException):
                    value.add_note(f"in a child of nir.forkserver:\n{trace}")
                    raise value
                raise ChildFailed(f"{value}\n{trace}".rstrip())
            out.append(value)
        return out


class ForkServer:
    """A server process that has imported ``preload`` and forks a child per call."""

    def __init__(self, preload: Sequence[str] = ()) -> None:
        request_r, request_w = os.pipe()
        answer_r, answer_w = os.pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(request_r), str(answer_w), *preload],
                stdin=subprocess.DEVNULL,
                pass_fds=(request_r, answer_w),
            )
        finally:
            os.close(request_r)
            os.close(answer_w)
        self._requests = Connection(request_w, readable=False)
        self._answers = Connection(answer_r, writable=False)
        self._lock = threading.Lock()
        self._pending = False
        self.owner = os.getpid()  # a process forked from the owner must start its own

    def start(self, calls: Sequence[Call]) -> Batch:
        """Send ``calls`` to run at the same time; read them with :meth:`Batch.results`
        before the next :meth:`start`."""
        with self._lock:
            if self._pending:
                raise RuntimeError("the previous batch's results were not read")
            self._requests.send(list(calls))
            self._pending = True
        return Batch(self)

    def _answered(self) -> bool:
        with self._lock:
            return self._answers.poll(0)  # also at the end of the pipe: reading then raises

    def _receive(self) -> list[tuple[bool, Any, str]]:
        with self._lock:
            try:
                return self._answers.recv()
            except EOFError as exc:
                code = self._process.poll()
                raise ChildFailed(f"the fork server ended (exit code {code})") from exc
            finally:
                self._pending = False

    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        """End the server (it exits at the end of its request pipe)."""
        self._requests.close()
        self._answers.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _run_child(call: Call, path: Path) -> None:
    """In a forked child: run the call, pickle what came of it to ``path``."""
    func, args = call
    try:
        outcome: tuple[bool, Any, str] = (True, func(*args), "")
    except BaseException as exc:  # carried to the caller, raised there
        outcome = (False, exc, traceback.format_exc())
    try:
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        if not outcome[0]:
            pickle.loads(data)  # some exceptions pickle but cannot be rebuilt: say so instead
    except Exception as exc:  # an unpicklable result or exception
        what = "result" if outcome[0] else f"exception ({outcome[1]!r})"
        data = pickle.dumps(
            (False, f"the {what} of {func.__qualname__} did not pickle: {exc}", outcome[2])
        )
    path.write_bytes(data)


def _run_batch(calls: list[Call]) -> list[tuple[bool, Any, str]]:
    with tempfile.TemporaryDirectory(prefix="nir-forkserver-") as tmp:
        children: list[tuple[int, Path]] = []
        for i, call in enumerate(calls):
            path = Path(tmp) / str(i)
            pid = os.fork()
            if pid == 0:  # the child: never returns into the server's loop
                code = 1
                try:
                    _run_child(call, path)
                    code = 0
                finally:
                    os._exit(code)
            children.append((pid, path))
        answers: list[tuple[bool, Any, str]] = []
        for pid, path in children:
            _, status = os.waitpid(pid, 0)
            if path.exists():
                answers.append(pickle.loads(path.read_bytes()))
            else:
                answers.append((False, f"a child ended without a result (status {status})", ""))
        return answers


def _serve(requests: Connection, answers: Connection) -> None:
    while True:
        try:
            calls = requests.recv()
        except EOFError:
            return
        try:
            answers.send(_run_batch(calls))
        except (BrokenPipeError, ConnectionResetError):  # the caller is gone
            return


def main(argv: list[str]) -> int:
    request_fd, answer_fd, *preload = argv
    # stdout is the caller's: whatever a library prints goes to stderr instead
    os.dup2(2, 1)
    for name in preload:
        importlib.import_module(name)
    _serve(Connection(int(request_fd), writable=False), Connection(int(answer_fd), readable=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
