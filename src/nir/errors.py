"""Errors meant for users: one line that says what, where, and what to do."""

from __future__ import annotations

import re


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


class DeliveryNotFound(NirError):
    """The delivery folder given does not exist: a mistyped path, nothing to quarantine."""

    exit_code = 2


class WarehouseBusyError(NirError):
    """Another process holds the warehouse for writing. Transient: retry later."""

    exit_code = 4
    transient = True


class DeliveryHeld(NirError):
    """A delivery follows the contract but looks wrong (empty, dated in the future, far
    smaller than the previous snapshot). Held, not loaded: a person decides. Not transient."""

    exit_code = 3

    def __init__(self, snapshot: str, reasons: list[str], report: str | None = None) -> None:
        self.snapshot = snapshot
        self.reasons = reasons
        where = f"; report in {report}" if report else ""
        super().__init__(
            f"delivery {snapshot} held, not loaded: {'; '.join(reasons)}{where}; if it is "
            'genuine, load it with --accept-anomaly (DAG run conf {"accept_anomaly": true})'
        )


# --- how input appears in messages ------------------------------------------------------------
#: Files whose every value is personal data: their values never appear in any message.
IDENTIFYING_FILES = frozenset({"personer.csv"})
#: The most characters of any input value (or name) a message may show.
MAX_SHOWN = 80
_LONG_DIGITS = re.compile(r"\d{6,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown_value(value: object, *, file: str | None = None, limit: int = 40) -> str:
    """How a value read from a delivery may appear in a message, log line or report.

    The one place that decides it: values of ``personer.csv`` (any column) are never shown,
    only their length; elsewhere a run of six or more digits (it could be a fødselsnummer in
    the wrong column) is replaced by its length, control characters are escaped and the
    result is at most ``limit`` (<= 80) characters, quotes included.
    """
    if value is None:
        return "empty"
    text = value if isinstance(value, str) else str(value)
    if file in IDENTIFYING_FILES:
        return f"<{len(text)} characters>"
    limit = min(limit, MAX_SHOWN)
    masked = _LONG_DIGITS.sub(lambda m: f"<{len(m.group())} digits>", text[: 4 * limit])
    shown = repr(masked)
    if len(shown) > limit or len(text) > 4 * limit:
        shown = shown[: limit - 2] + shown[0] + "…"
    return shown


def one_line(text: str, limit: int = 400) -> str:
    """``text`` as one line of at most ``limit`` characters (control characters escaped)."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scrub(text: str, limit: int = 200) -> str:
    """A message from a library (DuckDB, the OS) made safe to print: one line, at most
    ``limit`` characters, runs of six or more digits replaced by their length."""
    masked = _LONG_DIGITS.sub(lambda m: f"<{len(m.group())} digits>", text)
    return one_line(masked, limit)
