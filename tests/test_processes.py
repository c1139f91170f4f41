"""Shares of pure-Python work run in child processes (nir.processes)."""

from __future__ import annotations

import math
import os

import pytest

from nir.processes import ChildFailed, in_processes


def test_each_call_runs_and_the_results_come_back_in_order() -> None:
    calls = [(math.factorial, (n,)) for n in (5, 6, 7)]
    assert in_processes(calls) == [120, 720, 5040]


def test_the_shares_beyond_the_first_run_in_other_processes() -> None:
    pids = in_processes([(os.getpid, ()), (os.getpid, ()), (os.getpid, ())])
    assert pids[0] == os.getpid()
    assert len(set(pids)) == 3


def test_a_share_that_fails_in_its_child_names_the_work_and_the_error() -> None:
    with pytest.raises(ChildFailed, match=r"factorials, share 2, .*ValueError"):
        in_processes([(math.factorial, (3,)), (math.factorial, (-1,))], what="factorials")
