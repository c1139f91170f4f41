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

The audit of the decided years runs in children of the fork server while the caller writes
the protected tables and checks them (:class:`Decided`): the audit is the longest chain of a
publication, and the writing needs only the decision. Half of an audit is the attacker's
relations among the cells, which need only the true tables: a child works them out while the
years are decided and audits as soon as it is handed the decision (:func:`_hide_years`). Its
verdict is awaited before anything is published (the publication suite's last check).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from nir.catalog import PublishedTable
from nir.files import read_kept, write_kept
from nir.forkserver import Batch, Call, ForkServer
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


def _hide(
    sub: dict[str, pd.DataFrame],
    catalog: dict[str, PublishedTable],
    threshold: int,
    min_share_denominator: int,
    components: ComponentCache | None,
) -> Hidden:
    """One year's cells to hide (disclosure control)."""
    return disclosure.decide(
        sub,
        catalog,
        threshold=threshold,
        min_share_denominator=min_share_denominator,
        cache=components,
    )


def _audit(
    sub: dict[str, pd.DataFrame],
    catalog: dict[str, PublishedTable],
    threshold: int,
    hidden: Hidden,
) -> Attack:
    """The independent audit of one year's tables as disclosure control left them."""
    protected = disclosure.apply(sub, catalog, hidden)
    return attack.audit_publication(protected.frames, sub, catalog, threshold)


def _decide_then_audit(
    subs: list[dict[str, pd.DataFrame]],
    catalog: dict[str, PublishedTable],
    threshold: int,
    min_share_denominator: int,
    components: Path | None,
    handoff: str,
) -> list[Attack]:
    """In a child: :func:`_hide` each year in ``subs``, hand the cells hidden to the caller
    (with what the component cache read and solved, for the caller to merge; ``components``
    is the file of the caller's cache, read here as the caller read it), then :func:`_audit`
    the years while the caller goes on."""
    cache = suppression.ComponentCache(components) if components is not None else None
    hidden = [_hide(sub, catalog, threshold, min_share_denominator, cache) for sub in subs]
    used, hits, misses = (cache.used(), cache.hits, cache.misses) if cache else ({}, 0, 0)
    _hand_over(Path(handoff), (hidden, used, hits, misses))
    return [_audit(sub, catalog, threshold, h) for sub, h in zip(subs, hidden, strict=True)]


def _audit_when_decided(
    subs: list[dict[str, pd.DataFrame]],
    catalog: dict[str, PublishedTable],
    threshold: int,
    handoff: str,
    caller: int,
) -> list[Attack]:
    """In a child started before the caller decides the years in ``subs``: :func:`_audit`
    them, working out the attacker's relations meanwhile (they need only the true tables,
    about half of an audit) and reading the cells hidden from ``handoff`` once the caller
    has written them (:func:`_hand_over`). A caller that gives up removes the folder."""
    prepared = [attack.prepare_audit(sub, catalog) for sub in subs]
    hidden = _handed_over(Path(handoff), lambda: _alive(caller))
    return [
        attack.finish_audit(b, disclosure.apply(sub, catalog, h).frames, threshold)
        for b, sub, h in zip(prepared, subs, hidden, strict=True)
    ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


_HANDOFF_POLL = 0.002  # seconds between a waiting child's looks at its handoff file


def _hand_over(handoff: Path, what: object) -> None:
    """Write ``what`` for the process waiting in :func:`_handed_over` (whole or not at all)."""
    partial = handoff.with_name(handoff.name + ".tmp")
    partial.write_bytes(pickle.dumps(what, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(partial, handoff)


def _handed_over(handoff: Path, writer_alive: Callable[[], bool]) -> Any:
    """What was handed over in ``handoff``, waited for. Raises ``RuntimeError`` when the
    folder is removed (the other side gave up) or ``writer_alive()`` says it never will."""
    while True:
        alive = writer_alive()  # asked before looking: a writer that has ended wrote or never will
        try:
            data = handoff.read_bytes()
            break
        except FileNotFoundError:
            if not handoff.parent.is_dir():
                raise RuntimeError("the decision was abandoned: nothing to audit") from None
            if not alive:
                raise RuntimeError(
                    f"{handoff.name} was never handed over: its writer ended"
                ) from None
        time.sleep(_HANDOFF_POLL)
    handoff.unlink(missing_ok=True)
    return pickle.loads(data)


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


def _hide_years(
    todo: dict[int, dict[str, pd.DataFrame]],
    catalog: dict[str, PublishedTable],
    threshold: int,
    min_share_denominator: int,
    components: ComponentCache | None,
    processes: int,
) -> tuple[dict[int, Hidden], _Pending | None]:
    """The cells to hide of every year in ``todo``, and their audit under way.

    In one process: decided here, audited later (:meth:`Decided.audit`). With more, the
    years are shared out (the largest first; this process takes the first share) and one
    batch of children of the fork server starts before anything is decided: a child per
    other share decides its years, hands the cells hidden over, then audits them; one more
    child works out the attacker's relations for this process's years while they are
    decided, and audits them once handed the decision. This process waits only for the
    other shares' decisions; the audits run on while the caller writes the tables."""
    if processes <= 1 or not todo:
        hidden = {
            y: _hide(sub, catalog, threshold, min_share_denominator, components)
            for y, sub in todo.items()
        }
        return hidden, None
    mine, *theirs = _shares(_sizes(todo), min(processes, len(todo)))
    path = components.path if components is not None else None
    pending = _Pending([*theirs, mine], tempfile.mkdtemp(prefix="nir-audit-"))
    folder, caller = Path(pending.folder), os.getpid()
    handoffs = [folder / f"share-{i}.pickle" for i in range(len(theirs))]
    calls: list[Call] = [
        (
            _decide_then_audit,
            (
                [todo[y] for y in share],
                catalog,
                threshold,
                min_share_denominator,
                path,
                str(handoff),
            ),
        )
        for share, handoff in zip(theirs, handoffs, strict=True)
    ]
    calls.append(
        (
            _audit_when_decided,
            ([todo[y] for y in mine], catalog, threshold, str(folder / "mine"), caller),
        )
    )
    pending.batch = batch = fork_server().start(calls)
    hidden: dict[int, Hidden] = {}
    try:
        for y in mine:
            hidden[y] = _hide(todo[y], catalog, threshold, min_share_denominator, components)
        _hand_over(folder / "mine", [hidden[y] for y in mine])
        for share, handoff in zip(theirs, handoffs, strict=True):
            try:
                decided, used, hits, misses = _handed_over(handoff, lambda: not batch.ended())
            except RuntimeError:
                batch.results()  # a child that failed raises its own error here
                raise
            if components is not None:
                components.merge(used, hits, misses)
            hidden.update(zip(share, decided, strict=True))
    except BaseException:
        pending.close()  # children still waiting stop; the server stays in step
        raise
    return hidden, pending


@dataclass
class _Pending:
    """The audits running in children of the fork server (``batch``): the years of each
    call, in the order of the calls, and the private folder decisions are handed over in."""

    shares: list[list[int]]
    folder: str
    batch: Batch | None = None

    def results(self) -> dict[int, Attack]:
        """Every year's audit, waited for (a child's error raises here)."""
        batch, self.batch = self.batch, None
        try:
            results = batch.results() if batch is not None else []
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
        return {
            y: a
            for share, attacks in zip(self.shares, results, strict=True)
            for y, a in zip(share, attacks, strict=True)
        }

    def close(self) -> None:
        """Remove the folder (a child still waiting for a decision stops) and wait for the
        children without reading them: the fork server runs one batch at a time."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.batch is not None:
            batch, self.batch = self.batch, None
            batch.wait()


def _sizes(todo: dict[int, dict[str, pd.DataFrame]]) -> dict[int, int]:
    return {y: sum(len(f) for f in sub.values()) for y, sub in todo.items()}


class Decided:
    """Disclosure control of every year, decided; its audit running beside the caller.

    :attr:`protected` is the publication as disclosure control leaves it, ready to write;
    :meth:`audit` is the independent audit's verdict on it. With more than one process the
    decided years are being audited in children of the fork server (:func:`_hide_years`)
    while the caller writes and checks the tables: the audit is a publication's longest
    chain. With one process, :meth:`audit` audits them itself. :meth:`audit` (or
    :meth:`close`) must be called: the fork server runs one batch at a time."""

    def __init__(
        self,
        protected: Protected,
        kept: dict[int, _Outcome],
        decided: dict[int, tuple[str, dict[str, pd.DataFrame], Hidden]],
        order: list[int],
        catalog: dict[str, PublishedTable],
        threshold: int,
        years: YearCache | None,
        pending: _Pending | None = None,
    ) -> None:
        self.protected = protected
        self._kept = kept
        self._decided = decided
        self._order = order
        self._catalog = catalog
        self._threshold = threshold
        self._years = years
        self._verdict: Attack | None = None
        self._pending = pending

    def audit(self) -> Attack:
        """The audit's verdict over every year (kept years read back, decided ones audited);
        the decided years go into the year cache. Raises ``ValueError`` as the audit does."""
        if self._verdict is not None:
            return self._verdict
        pending, self._pending = self._pending, None
        done = pending.results() if pending is not None else {}
        for y, (_, sub, hidden) in self._decided.items():
            if y not in done:
                done[y] = _audit(sub, self._catalog, self._threshold, hidden)
        outcomes = []
        for y in self._order:
            if y in self._kept:
                outcomes.append(self._kept[y])
                continue
            key, _, hidden = self._decided[y]
            outcome = _Outcome(hidden, done[y])
            if self._years is not None:
                self._years.put(key, outcome)
            outcomes.append(outcome)
        results = [o.attack.result for o in outcomes]
        self._verdict = Attack(
            AuditResult(
                hidden=sum(r.hidden for r in results),
                primary_hidden=sum(r.primary_hidden for r in results),
                secondary_hidden=sum(r.secondary_hidden for r in results),
                recoverable=[f for r in results for f in r.recoverable],
                narrow=[f for r in results for f in r.narrow],
            ),
            sum(o.attack.hidden for o in outcomes),
        )
        return self._verdict

    def close(self) -> None:
        """Wait for the audit's children without reading their verdict (after an error)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.close()


def decide_years(
    frames: dict[str, pd.DataFrame],
    catalog: dict[str, PublishedTable],
    *,
    threshold: int,
    min_share_denominator: int,
    years: YearCache | None = None,
    components: ComponentCache | None = None,
    processes: int = 1,
) -> Decided:
    """:func:`~nir.publication.disclosure.protect` of ``frames``, year by year, with the
    audit (:func:`~nir.publication.attack.audit_publication`) started: a year whose inputs
    are in ``years`` is read from it, the others are decided on up to ``processes``
    processes and audited in children while the caller goes on (see :class:`Decided`).
    Raises ``ValueError`` as disclosure control does; the audit raises from
    :meth:`Decided.audit`."""
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
    hidden_of, pending = _hide_years(
        {y: sub for y, (_, sub) in todo.items()},
        catalog,
        threshold,
        min_share_denominator,
        components,
        processes,
    )
    try:
        if years is not None:
            years.misses.extend(todo)
        hidden = {y: kept[y].hidden if y in kept else hidden_of[y] for y in parts}

        masks: dict[str, dict[str, np.ndarray]] = {}
        prikket = {name: np.zeros(len(frames[name]), dtype=bool) for name in catalog}
        for y, h in hidden.items():
            for name, cols in h.masks.items():
                rows = positions[y][name]
                for col, m in cols.items():
                    full = masks.setdefault(name, {}).setdefault(
                        col, np.zeros(len(frames[name]), dtype=bool)
                    )
                    full[rows[m]] = True
            for name, p in h.prikket.items():
                prikket[name][positions[y][name][p]] = True
        for name in catalog:
            masks.setdefault(name, {})
        total = Hidden(
            masks=masks,
            prikket=prikket,
            cells=sum(h.cells for h in hidden.values()),
            primary=sum(h.primary for h in hidden.values()),
            secondary=sum(h.secondary for h in hidden.values()),
            hidden_by_rule=sum(h.hidden_by_rule for h in hidden.values()),
        )
        return Decided(
            disclosure.apply(frames, catalog, total),
            kept,
            {y: (key, sub, hidden_of[y]) for y, (key, sub) in todo.items()},
            parts,
            catalog,
            threshold,
            years,
            pending,
        )
    except BaseException:
        if pending is not None:
            pending.close()
        raise
