"""Disclosure control and its audit, one reference year at a time, each year kept between runs.

Why a year can be decided alone: a published cell is a sum of inner cells of its population's
partition (the grain columns that never add up: aar, periode, tiltakskode, ...), and every
published table declares its reference year (``meta.publisert.aar``) as a function of those
columns. Cells of two years therefore share no inner cell and no relation: neither the
suppression's model nor the audit's attacker links them, and the verdict on all years is the
union of the verdicts year by year. :func:`reference_years` checks the premise on the data
(one year per partition) and falls back to one part holding everything when it does not hold;
``tests/test_disclosure_years.py`` holds the two ways equal on a real publication.

What is kept: per year, under a hash of everything its verdict depends on (that year's rows of
every published table, the tables' declarations, the threshold, the minimum denominator and
the source of the modules that decide and audit), the cells disclosure control hides and the
audit's findings. A monthly publication changes the open year; a final year gives the same
hash and costs only the hash. :meth:`YearCache.save` keeps this run's years and nothing else,
so the file does not grow with the history; a file that cannot be read is an empty cache.

The file holds the true value of any hidden cell the audit reports (``Finding.value``), so it is
written owner-only, like the control lists.

The years to decide are shared out over ``processes`` processes (this one and the children of
:mod:`nir.forkserver`: clean processes forked from one that imported this module, never from
the caller, whose threads and locks an Airflow task or a test runner owns). Each year's verdict
is the same wherever it is computed, and the kept components the children read and solve are
merged into the caller's cache, so the result and the files written do not depend on how the
years were shared (``tests/test_disclosure_years.py``). A monthly publication decides one or
two years; a first publication, a demo month with old years corrected or a new threshold
decides them all.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from nir.catalog import PublishedTable
from nir.files import read_kept, write_kept
from nir.forkserver import ForkServer
from nir.publication import attack, audit, disclosure, suppression
from nir.publication.attack import Attack
from nir.publication.audit import AuditResult, Finding
from nir.publication.disclosure import Hidden, Protected

if TYPE_CHECKING:
    from nir.publication.suppression import ComponentCache

log = logging.getLogger(__name__)

ALL = -1  # the one part when the tables cannot be split by year


@functools.cache
def _code_fingerprint() -> str:
    """The source of every module whose code decides or audits a cell."""
    h = hashlib.sha256()
    for module in (disclosure, suppression, attack, audit):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()


def _one_part(frames: dict[str, pd.DataFrame], catalog: dict[str, PublishedTable]) -> dict:
    return {name: np.full(len(frames[name]), ALL) for name in catalog}


def reference_years(
    frames: dict[str, pd.DataFrame], catalog: dict[str, PublishedTable]
) -> dict[str, np.ndarray]:
    """Each published table's rows' reference year (``meta.publisert.aar``), or ``ALL`` for
    every row when some table declares none or its year is not one per partition."""
    con = duckdb.connect()
    try:
        years: dict[str, np.ndarray] = {}
        for t in catalog.values():
            f = frames[t.name]
            if not t.aar:
                log.warning("%s declares no reference year: disclosure control in one part", t.name)
                return _one_part(frames, catalog)
            con.register("frame", f)
            y = con.execute(f"select {t.aar} as y from frame").fetchnumpy()["y"]
            con.unregister("frame")
            y = pd.Series(y).fillna(ALL).astype("int64").to_numpy()
            by_part = pd.DataFrame({**{c: f[c].to_numpy() for c in t.partitions}, "_y": y})
            one = (
                by_part.groupby(list(t.partitions), dropna=False)["_y"].nunique().le(1).all()
                if t.partitions
                else len(set(y.tolist())) <= 1
            )
            if not one:
                log.warning(
                    "%s: the reference year is not one per partition %s: disclosure control "
                    "in one part",
                    t.name,
                    t.partitions,
                )
                return _one_part(frames, catalog)
            years[t.name] = y
        return years
    finally:
        con.close()


# Where a figure comes from, not what it is: the disclosure control and the audit read
# neither (tests/test_disclosure_years.py holds them to that), so a year whose figures are the
# same in a newer snapshot is kept, as a frozen year is.
PROVENANCE = ("snapshot_date", "status")


def _part_key(
    sub: dict[str, pd.DataFrame],
    catalog: dict[str, PublishedTable],
    threshold: int,
    min_share_denominator: int,
) -> str:
    h = hashlib.sha256(
        f"{YearCache.VERSION};{_code_fingerprint()};{threshold};{min_share_denominator};".encode()
    )
    for t in catalog.values():
        h.update(repr(t).encode())
        f = sub[t.name].drop(columns=list(PROVENANCE), errors="ignore")
        h.update(repr([(c, str(d)) for c, d in f.dtypes.items()]).encode())
        h.update(pd.util.hash_pandas_object(f, index=False).to_numpy().tobytes())
        h.update(b"|")
    return h.hexdigest()


@dataclass
class _Outcome:
    """One year's verdict: the cells hidden and the audit of the year's protected tables."""

    hidden: Hidden
    attack: Attack


def _finding_doc(f: Finding) -> list:
    return [
        f.cell[0],
        list(f.cell[1]),
        f.cell[2],
        f.value,
        f.lower,
        f.upper,
        f.primary,
        list(f.relations),
    ]


def _finding(doc: list) -> Finding:
    table, row, column, value, lower, upper, primary, relations = doc
    return Finding(
        cell=(table, tuple(row), column),
        value=float(value),
        lower=float(lower),
        upper=float(upper),
        primary=bool(primary),
        relations=tuple(relations),
    )


def _indices(masks: dict[str, np.ndarray]) -> dict[str, list[int]]:
    return {col: np.flatnonzero(m).tolist() for col, m in masks.items()}


def _masks(n: int, indices: dict[str, list[int]]) -> dict[str, np.ndarray]:
    return {col: _rows(n, idx) for col, idx in indices.items()}


def _dump(o: _Outcome) -> dict:
    h, r = o.hidden, o.attack.result
    return {
        "masks": {t: _indices(cols) for t, cols in h.masks.items()},
        "lengths": {t: len(p) for t, p in h.prikket.items()},
        "prikket": {t: np.flatnonzero(p).tolist() for t, p in h.prikket.items()},
        "counts": [h.cells, h.primary, h.secondary, h.hidden_by_rule],
        "audit": {
            "hidden": o.attack.hidden,
            "counts": [r.hidden, r.primary_hidden, r.secondary_hidden],
            "recoverable": [_finding_doc(f) for f in r.recoverable],
            "narrow": [_finding_doc(f) for f in r.narrow],
        },
    }


def _rows(n: int, idx: list[int]) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(idx, dtype=np.int64)] = True
    return mask


def _load(doc: dict) -> _Outcome:
    n = doc["lengths"]
    cells, primary, secondary, by_rule = doc["counts"]
    a = doc["audit"]
    hidden, primary_hidden, secondary_hidden = a["counts"]
    return _Outcome(
        hidden=Hidden(
            masks={t: _masks(n[t], cols) for t, cols in doc["masks"].items()},
            prikket={t: _rows(n[t], idx) for t, idx in doc["prikket"].items()},
            cells=cells,
            primary=primary,
            secondary=secondary,
            hidden_by_rule=by_rule,
        ),
        attack=Attack(
            AuditResult(
                hidden=hidden,
                primary_hidden=primary_hidden,
                secondary_hidden=secondary_hidden,
                recoverable=[_finding(f) for f in a["recoverable"]],
                narrow=[_finding(f) for f in a["narrow"]],
            ),
            a["hidden"],
        ),
    )


class YearCache:
    """The years decided by the last publication, in one owner-only JSON file."""

    VERSION = "1"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.hits: list[int] = []
        self.misses: list[int] = []
        self._used: dict[str, dict] = {}
        self._known = read_kept(self.path, self.VERSION, "years")

    def get(self, key: str) -> _Outcome | None:
        doc = self._known.get(key)
        if not isinstance(doc, dict):
            return None
        try:
            outcome = _load(doc)
        except (KeyError, TypeError, ValueError, IndexError):
            return None
        self._used[key] = doc
        return outcome

    def put(self, key: str, outcome: _Outcome) -> None:
        self._used[key] = _dump(outcome)

    def save(self) -> None:
        """Keep this run's years for the next run (a failure costs speed, not figures)."""
        write_kept(self.path, self.VERSION, "years", self._used, mode=0o600)


def _decide(
    sub: dict[str, pd.DataFrame],
    catalog: dict[str, PublishedTable],
    threshold: int,
    min_share_denominator: int,
    components: ComponentCache | None,
) -> _Outcome:
    """One year's verdict: disclosure control, then the audit of what it leaves visible."""
    hidden = disclosure.decide(
        sub,
        catalog,
        threshold=threshold,
        min_share_denominator=min_share_denominator,
        cache=components,
    )
    protected = disclosure.apply(sub, catalog, hidden)
    return _Outcome(hidden, attack.audit_publication(protected.frames, sub, catalog, threshold))


def _decide_in_child(
    subs: list[dict[str, pd.DataFrame]],
    catalog: dict[str, PublishedTable],
    threshold: int,
    min_share_denominator: int,
    components: Path | None,
) -> tuple[list[_Outcome], dict[str, str], int, int]:
    """:func:`_decide` of each year in ``subs``, in a child process; ``components``: the file
    of the caller's component cache (read here, as the caller read it). Returns what the
    cache read and solved too, for the caller to merge."""
    cache = suppression.ComponentCache(components) if components is not None else None
    outcomes = [_decide(sub, catalog, threshold, min_share_denominator, cache) for sub in subs]
    if cache is None:
        return outcomes, {}, 0, 0
    return outcomes, cache.used(), cache.hits, cache.misses


def cores() -> int:
    """The cores this process may run on (its affinity, which a container or taskset may
    narrow; ``os.cpu_count`` counts the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_server_lock = threading.Lock()
_server: ForkServer | None = None


def fork_server() -> ForkServer:
    """This process's fork server (started on first use, and again if it died): a clean
    process that has imported this module, so that a child starts with it imported. Call it
    early to have the imports done by the time the years are known."""
    global _server
    with _server_lock:
        if _server is None or _server.owner != os.getpid() or not _server.alive():
            _server = ForkServer(preload=(__name__,))
        return _server


def _shares(sizes: dict[int, int], n: int) -> list[list[int]]:
    """The years shared out over ``n`` processes, largest first to the least loaded (the
    first share is the caller's)."""
    shares: list[list[int]] = [[] for _ in range(n)]
    load = [0] * n
    for y in sorted(sizes, key=lambda y: (-sizes[y], y)):
        i = load.index(min(load))
        shares[i].append(y)
        load[i] += sizes[y]
    return shares


def _decide_years(
    todo: dict[int, dict[str, pd.DataFrame]],
    catalog: dict[str, PublishedTable],
    threshold: int,
    min_share_denominator: int,
    components: ComponentCache | None,
    processes: int,
) -> dict[int, _Outcome]:
    """The verdict of every year in ``todo``, on up to ``processes`` processes: this one
    takes the first share, a child of the fork server each of the others."""
    n = min(processes, len(todo))
    if n <= 1:
        return {
            y: _decide(sub, catalog, threshold, min_share_denominator, components)
            for y, sub in todo.items()
        }
    sizes = {y: sum(len(f) for f in sub.values()) for y, sub in todo.items()}
    mine, *theirs = _shares(sizes, n)
    path = components.path if components is not None else None
    batch = fork_server().start(
        [
            (
                _decide_in_child,
                ([todo[y] for y in share], catalog, threshold, min_share_denominator, path),
            )
            for share in theirs
        ]
    )
    out: dict[int, _Outcome] = {}
    try:
        for y in mine:
            out[y] = _decide(todo[y], catalog, threshold, min_share_denominator, components)
    finally:
        batch.wait()  # even when this share raised: the server stays in step
    for share, (outcomes, used, hits, misses) in zip(theirs, batch.results(), strict=True):
        if components is not None:
            components.merge(used, hits, misses)
        out.update(zip(share, outcomes, strict=True))
    return out


def protect_and_audit(
    frames: dict[str, pd.DataFrame],
    catalog: dict[str, PublishedTable],
    *,
    threshold: int,
    min_share_denominator: int,
    years: YearCache | None = None,
    components: ComponentCache | None = None,
    processes: int = 1,
) -> tuple[Protected, Attack]:
    """:func:`~nir.publication.disclosure.protect` and
    :func:`~nir.publication.attack.audit_publication` of ``frames``, year by year; a year
    whose inputs are in ``years`` is read from it, the others are decided on up to
    ``processes`` processes. Raises ``ValueError`` as the audit does."""
    of_row = reference_years(frames, catalog)
    parts = sorted({int(y) for arr in of_row.values() for y in np.unique(arr).tolist()}) or [ALL]
    positions = {y: {name: np.flatnonzero(of_row[name] == y) for name in catalog} for y in parts}
    kept: dict[int, _Outcome] = {}
    todo: dict[int, tuple[str, dict[str, pd.DataFrame]]] = {}
    for y in parts:
        sub = {
            name: frames[name].iloc[positions[y][name]].reset_index(drop=True) for name in catalog
        }
        key = _part_key(sub, catalog, threshold, min_share_denominator)
        outcome = years.get(key) if years is not None else None
        if outcome is None:
            todo[y] = (key, sub)
        else:
            kept[y] = outcome
            if years is not None:
                years.hits.append(y)
    decided = _decide_years(
        {y: sub for y, (_, sub) in todo.items()},
        catalog,
        threshold,
        min_share_denominator,
        components,
        processes,
    )
    for y, (key, _) in todo.items():
        if years is not None:
            years.put(key, decided[y])
            years.misses.append(y)
    outcomes = [(y, kept[y] if y in kept else decided[y]) for y in parts]

    masks: dict[str, dict[str, np.ndarray]] = {}
    prikket = {name: np.zeros(len(frames[name]), dtype=bool) for name in catalog}
    for y, o in outcomes:
        for name, cols in o.hidden.masks.items():
            rows = positions[y][name]
            for col, m in cols.items():
                full = masks.setdefault(name, {}).setdefault(
                    col, np.zeros(len(frames[name]), dtype=bool)
                )
                full[rows[m]] = True
        for name, p in o.hidden.prikket.items():
            prikket[name][positions[y][name][p]] = True
    for name in catalog:
        masks.setdefault(name, {})
    total = Hidden(
        masks=masks,
        prikket=prikket,
        cells=sum(o.hidden.cells for _, o in outcomes),
        primary=sum(o.hidden.primary for _, o in outcomes),
        secondary=sum(o.hidden.secondary for _, o in outcomes),
        hidden_by_rule=sum(o.hidden.hidden_by_rule for _, o in outcomes),
    )
    results = [o.attack.result for _, o in outcomes]
    verdict = Attack(
        AuditResult(
            hidden=sum(r.hidden for r in results),
            primary_hidden=sum(r.primary_hidden for r in results),
            secondary_hidden=sum(r.secondary_hidden for r in results),
            recoverable=[f for r in results for f in r.recoverable],
            narrow=[f for r in results for f in r.narrow],
        ),
        sum(o.attack.hidden for _, o in outcomes),
    )
    return disclosure.apply(frames, catalog, total), verdict
