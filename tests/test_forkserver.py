"""nir.forkserver: calls run in children of a clean, pre-imported server process."""

from __future__ import annotations

import os

import pytest

from nir.forkserver import ChildFailed, ForkServer

IMPORTED = "'colorsys' in __import__('sys').modules"  # a module nothing else here imports


@pytest.fixture
def server():
    s = ForkServer(preload=("colorsys",))
    yield s
    s.close()


def test_calls_run_at_once_in_children_and_answer_in_order(server: ForkServer) -> None:
    batch = server.start([(os.getpid, ()), (os.getppid, ()), (os.getpid, ()), (abs, (-4,))])
    child1, parent, child2, four = batch.results()
    assert four == 4
    assert len({child1, child2, os.getpid()}) == 3  # a child per call, none of them this one
    assert parent not in (os.getpid(), child1, child2)  # the server forked them


def test_children_start_with_the_server_s_imports(server: ForkServer) -> None:
    assert server.start([(eval, (IMPORTED,))]).results() == [True]
    bare = ForkServer()
    try:
        assert bare.start([(eval, (IMPORTED,))]).results() == [False]
    finally:
        bare.close()


def test_an_exception_in_a_child_is_raised_in_the_caller_and_the_server_goes_on(
    server: ForkServer,
) -> None:
    batch = server.start([(abs, (1,)), (int, ("not a number",))])
    with pytest.raises(ValueError, match="invalid literal for int") as raised:
        batch.results()
    assert any("in a child of nir.forkserver" in note for note in raised.value.__notes__)
    assert server.start([(abs, (-2,))]).results() == [2]


def test_a_child_that_dies_or_returns_what_cannot_pickle_fails_the_batch(
    server: ForkServer,
) -> None:
    with pytest.raises(ChildFailed, match="ended without a result"):
        server.start([(os._exit, (3,))]).results()
    with pytest.raises(ChildFailed, match="did not pickle"):
        server.start([(eval, ("lambda: 0",))]).results()
    assert server.alive()
    assert server.start([(abs, (-3,))]).results() == [3]


def test_a_batch_must_be_read_before_the_next(server: ForkServer) -> None:
    first = server.start([(abs, (-1,))])
    with pytest.raises(RuntimeError, match="not read"):
        server.start([(abs, (-2,))])
    assert first.results() == [1]


def test_the_server_ends_with_its_caller(server: ForkServer) -> None:
    server.close()
    assert not server.alive()
    assert server._process.returncode == 0


def test_a_batch_says_whether_it_has_ended_without_waiting(server: ForkServer, tmp_path) -> None:
    """Batch.ended: False while a child runs (here: opening a FIFO no one writes yet), True
    once every call has ended (then the answer is read at once)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    batch = server.start([(os.open, (str(fifo), os.O_RDONLY)), (abs, (-1,))])
    assert not batch.ended()
    os.close(os.open(fifo, os.O_WRONLY))  # lets the child's open return
    while not batch.ended():
        os.sched_yield()
    fd, one = batch.results()
    assert isinstance(fd, int) and one == 1
    assert batch.ended()
