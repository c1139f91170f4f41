"""What a suite is made of: a :class:`Check` (a frame and the GX expectations to validate it
with) and the severities. The suites in ``expectations/`` build checks; :mod:`nir.gate` runs
them. Kept apart from the gate so that a suite needs nothing of the gate that runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HARD, WARNING = "hard", "warning"  # an expectation's meta.severity: blocks, or never does


@dataclass
class Check:
    """One DataFrame and the expectations to validate it with."""

    asset: str  # a name for the DataFrame, e.g. "programmer"
    # a pandas.DataFrame, or a function returning it, called when the check's turn comes (a
    # frame still being computed beside the checks before it, as the disclosure audit is)
    frame: Any
    expectations: list[Any] = field(default_factory=list)  # GX Expectation objects
    # names a row in failure messages: a column of ``frame``, or a function of the row's
    # position (for frames too large to carry a text per row)
    describe: str | Callable[[int], str] | None = None


def by_position(names: Any) -> Callable[[int], str]:
    """Row position -> its entry of ``names`` (a Series as long as the frame): a ``describe``
    for a frame that leaves its descriptions out (GX hashes and filters every column)."""
    return lambda i: str(names.iloc[int(i)]) if 0 <= int(i) < len(names) else str(i)
