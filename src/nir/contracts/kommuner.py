"""SSB's kommune classification (Klass 131) and its code changes, shipped with the package.

The files under ``reference/kommuner/`` are copies of ``shared/reference/kommuner/``. This
module answers three questions: which codes are valid on a date, what a code is called, and
which 2024 code(s) an older code became. The dbt seeds are exported from here
(``nir seeds``), so the rule lives in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

UOPPGITT = "9999"
CURRENT_YEAR = 2024  # the structure every figure is harmonised to


@dataclass(frozen=True)
class Inndeling:
    year: int
    valid_from: date
    valid_to: date | None  # exclusive; None = still valid
    names: dict[str, str]  # code -> name


@dataclass(frozen=True)
class Change:
    old_code: str
    new_code: str
    occurred: date


def _ref(name: str) -> str:
    return (
        resources.files("nir.contracts").joinpath("reference", "kommuner", name).read_text("utf-8")
    )


@cache
def inndelinger() -> tuple[Inndeling, ...]:
    """Every shipped classification, oldest first; each valid until the next one starts."""
    raw = []
    for year in (2018, 2020, 2023, 2024):
        doc = json.loads(_ref(f"kommuneinndeling_{year}.json"))
        names = {i["code"]: i["name"] for i in doc["classificationItems"]}
        raw.append((year, date.fromisoformat(doc["validFrom"]), names))
    out = []
    for i, (year, start, names) in enumerate(raw):
        end = raw[i + 1][1] if i + 1 < len(raw) else None
        out.append(Inndeling(year, start, end, names))
    return tuple(out)


@cache
def changes() -> tuple[Change, ...]:
    doc = json.loads(_ref("kommuneendringer.json"))
    return tuple(
        Change(c["oldCode"], c["newCode"], date.fromisoformat(c["changeOccurred"]))
        for c in doc["codeChanges"]
        if c["oldCode"] != c["newCode"]
    )


@cache
def fylker() -> dict[str, str]:
    """Fylke number -> name; where a number was reused, the newest name wins."""
    lines = _ref("fylker.txt").splitlines()[1:]
    return {code: name for code, name in (line.split(",", 1) for line in lines if line)}


def inndeling_on(day: date) -> Inndeling:
    """The classification in force on ``day`` (the oldest shipped one before 2018)."""
    current = inndelinger()[0]
    for ind in inndelinger():
        if ind.valid_from <= day:
            current = ind
    return current


def is_valid(code: str, day: date) -> bool:
    return code in inndeling_on(day).names


def current() -> Inndeling:
    return inndelinger()[-1]


@cache
def successors(code: str, after: date = date(1900, 1, 1)) -> tuple[str, ...]:
    """The 2024 code(s) ``code`` became through the chain of changes after ``after``.

    Merges give one successor; a split (1507 -> 1508, 1580) gives several, in the order the
    change list names them (so the first is 1508 Ålesund).
    """
    if code in current().names and not any(
        c.old_code == code and c.occurred > after for c in changes()
    ):
        return (code,)
    nexts = [c for c in changes() if c.old_code == code and c.occurred > after]
    if not nexts:
        return (code,)
    first_date = min(c.occurred for c in nexts)
    out: list[str] = []
    for c in nexts:
        if c.occurred == first_date:
            for s in successors(c.new_code, first_date):
                if s not in out:
                    out.append(s)
    return tuple(out)


def code_on(code_2024: str, day: date) -> str:
    """The code valid on ``day`` for a kommune known by its 2024 code (for the generator).

    Walks the change list backwards; where several old codes merged into it, takes the first.
    """
    if is_valid(code_2024, day):
        return code_2024
    ind = inndeling_on(day)
    for old in ind.names:
        if code_2024 in successors(old, ind.valid_from):
            return old
    return code_2024
