"""Errors meant for users: one line that says what, where, and what to do."""

from __future__ import annotations


class NirError(Exception):
    """Base class for errors the CLI prints as one line (no traceback).

    ``transient`` says whether waiting and retrying can help (a busy warehouse, a full
    disk); the DAGs retry those and fail the others at once.
    """

    exit_code = 1
    transient = False


class ContractError(NirError):
    """A delivery does not follow the export contract. Not transient: do not retry."""

    exit_code = 3

    def __init__(self, delivery: str, problems: list) -> None:  # list[contract.Problem]
        self.delivery = delivery
        self.problems = problems
        first = problems[0] if problems else "unknown problem"
        more = (
            f" (and {len(problems) - 1} more problem(s), see the quarantine report)"
            if len(problems) > 1
            else ""
        )
        super().__init__(f"delivery {delivery} rejected: {first}{more}")


class WarehouseBusyError(NirError):
    """Another process holds the warehouse for writing. Transient: retry later."""

    exit_code = 4
    transient = True
