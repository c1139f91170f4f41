"""Secondary cell suppression by Gaussian elimination (Statistics Norway's method).

A Python implementation of the method behind the R function ``GaussSuppression`` in the SSB
packages SSBtools / GaussSuppression (Langsrud 2024, "Secondary cell suppression by Gaussian
elimination: an algorithm suitable for handling issues with zeros and singletons", Journal of
Official Statistics). Written from the method description; no code is taken from the R packages.

The problem
-----------
Every published cell is a linear combination of *inner cells* (the finest cross-classification):
row ``i`` of ``x`` (shape ``(n_cells, n_inner)``) holds the coefficients of cell ``i``. A set of
visible cells ``V`` reveals a primary cell ``p`` when ``x[p]`` lies in the linear span of the rows
``x[V]``: the attacker can then compute ``p`` exactly from published figures. ``gauss_suppress``
chooses secondary cells so that, for every primary cell ``p``, ``x[p]`` is *not* in
``span(x[V])`` where ``V`` is the set of cells that are not hidden (after the zero rule below).

The algorithm
-------------
1. Known zeros are removed (see *Zeros*).
2. The problem is split into connected components (cells connected through shared inner cells);
   a component without a primary cell is published as it is.
3. In each component the forced cells are published first, then the candidates (all cells that
   are neither primary nor forced) are taken one at a time in the candidate order. The rows of
   published cells form a basis kept under Gaussian elimination, and every primary row (and every
   singleton vector, below) is kept reduced against that basis; a candidate's row is reduced
   against it when the candidate comes up (pivots in the order they were published). A candidate
   whose row reduces to zero adds no information and is published. Otherwise it is suppressed
   (secondary) when adding it would eliminate a reduced primary row completely (the primary
   would become a linear combination of published rows), or when it would let a singleton
   contributor reveal another primary cell (see *Singletons*); else it is published and becomes
   a pivot.

   Because a candidate is suppressed only when it would complete a revelation, a secondary cell
   can never itself be derived from the visible cells (that would reveal the primary), and every
   secondary cell is the least preferred cell of the relation it breaks: all the other cells of
   that relation came earlier in the candidate order and were published.

The elimination is exact: rows are sparse dicts of Python integers, eliminated fraction-free
(``w = a*v - b*r`` with ``a, b`` coprime, the content gcd divided out when a non-unit pivot had to
be used). Decisions therefore never depend on rounding or on the choice of pivots, which is
picked by a Markowitz rule (the column of the new basis row held by the fewest tracked rows and
candidates still to come, unit coefficients preferred) to keep fill-in low. Non-integer
coefficients are rejected.

Default candidate order (``candidate_order``)
---------------------------------------------
1. cells of value 0 first: they carry no information and publishing them is free;
2. then by decreasing value: large cells are kept visible preferentially (as SSB's
   ``CandidatesDefault``), so secondary cells are small cells;
3. ties: detailed cells (fewer nonzeros in the row, i.e. fewer inner cells) before totals;
4. then by the row itself (its inner-cell indices, then its coefficients, compared
   lexicographically), so that the order, and hence the result, does not depend on the order in
   which the cells are listed;
5. then by cell index (only cells with identical rows and values are left; they always get the
   same status).

Zeros
-----
An attacker knows every published cell. A published (non-primary) cell of value 0 whose nonzero
coefficients are all positive, and all of whose inner cells are known to be >= 0
(``inner_nonneg``), proves that each of its inner cells is empty; so does a published 0 with a
single (not yet known) inner cell, whatever its sign. Such inner cells are removed (their columns
dropped) before elimination; the rule is applied until nothing changes (dropping a column can
make another zero cell's remaining coefficients all positive). Consequences:

* a cell of value 0 whose row is empty after the removal is never chosen as a secondary cell
  (it protects nothing, and it is published anyway);
* a visible 0 cannot be used to reveal a neighbour: e.g. a primary cell whose only sibling is 0
  has the same row as its total after the removal, so the total is hidden, not the 0;
* a primary cell whose row becomes empty (its value 0 follows from published zeros) cannot be
  protected by secondary suppression: ``ValueError``. Do not mark such zeros as primary.

Only published zeros are used (a primary 0 is hidden and tells the attacker nothing).

Singletons
----------
A cell with one contributor is a singleton: the contributor knows its value. Singleton vectors
are

* the rows of primary cells of value 1, and
* when ``inner_values`` is given, the unit vector of every inner cell with ``inner_values == 1``
  (the one contributor knows that inner cell), except where a value-1 primary cell already has
  exactly that row.

The treatment (in the spirit of SSB's ``singletonMethod = "anySum"``): the contributor of a
singleton must not be able to reveal *another* primary cell, i.e. for every singleton vector
``s`` and every primary ``p`` whose row is not a multiple of ``s``, ``x[p]`` must not lie in
``span(x[V] + {s})``. Under elimination this is the condition that the reduced rows of ``s`` and
``p`` never become parallel. It is checked inside the main pass, when each candidate is
considered (SSB's newer versions likewise handle singletons inside the elimination): a candidate
that would make a (singleton, primary) pair parallel is suppressed, and counted in
``SuppressionResult.singleton_extra`` when the plain primary check alone would have published
it. Since candidates are taken in order, the cell suppressed is the one that would complete the
revelation, i.e. the least preferred cell of that relation (all the others came earlier and are
published), which is what a repair after the main pass ("suppress the least preferred visible
cell that breaks the revelation, repeat") aims at; doing it inside the pass needs no second
pass and no repetition, and after the pass no singleton reveals another primary cell. Only one
contributor at a time is considered (no coalitions). Non-primary cells of value 1 are not
singleton vectors themselves (the primary rule normally covers them); pass ``inner_values`` to
protect every inner cell of frequency 1.

Forced cells are published first whatever they reveal: a forced cell that reveals a primary
cell raises ``ValueError``; a forced cell that lets a singleton reveal a primary cell is logged
as a warning (that pair is then left alone).

Size
----
Components are solved independently; the work per candidate is proportional to the number of
rows sharing its pivot column times its reduced length. Totals published early (they come
first in the order) leave dense reduced rows behind, which dominates the cost. A synthetic
86 400-cell problem (4 years x 3 measures, each a table of 400 regions (kommune -> fylke ->
land) x 3 sexes x 6 age groups; 46 080 inner cells; cells of value 1-2 primary, 25 %) takes
about 6-9 s of CPU; a single component of 21 600 cells (three measures linked by
``m3 = m1 + m2``) about 4-5 s.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
from collections import defaultdict
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from nir.files import read_kept, write_kept

log = logging.getLogger(__name__)

__all__ = ["ComponentCache", "SuppressionResult", "candidate_order", "gauss_suppress"]

Row = dict[int, int]


@dataclass(frozen=True)
class SuppressionResult:
    """The outcome of :func:`gauss_suppress`.

    ``secondary``: cells hidden by secondary suppression; ``hidden``: ``primary | secondary``;
    ``candidates_tried``: candidates examined by the elimination (candidates in components that
    hold a primary cell; the others are published without a check); ``singleton_extra``:
    secondary cells added by the singleton treatment (included in ``secondary``).
    """

    secondary: np.ndarray
    hidden: np.ndarray
    candidates_tried: int
    singleton_extra: int


# --------------------------------------------------------------------------- input handling


def _as_csr(x: sp.spmatrix | np.ndarray) -> sp.csr_matrix:
    """``x`` as a CSR matrix of int64 with sorted indices and no stored zeros (a copy)."""
    m = sp.csr_matrix(x, copy=True)
    if m.ndim != 2:
        raise ValueError("x must be a 2-dimensional matrix")
    m.sum_duplicates()
    m.eliminate_zeros()
    m.sort_indices()
    data = np.asarray(m.data)
    if (
        data.size
        and not np.issubdtype(data.dtype, np.integer)
        and not (np.all(np.isfinite(data)) and np.array_equal(data, np.round(data)))
    ):
        raise ValueError("x must have integer coefficients")
    return sp.csr_matrix((data.astype(np.int64), m.indices.copy(), m.indptr.copy()), shape=m.shape)


def _vector(a: np.ndarray, n: int, name: str) -> np.ndarray:
    v = np.asarray(a)
    if v.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {v.shape}")
    return v


def _bool_vector(a: np.ndarray | None, n: int, name: str, default: bool) -> np.ndarray:
    if a is None:
        return np.full(n, default)
    v = _vector(a, n, name)
    if v.dtype != bool:
        raise ValueError(f"{name} must be a boolean array")
    return v


_LEXSORT_MAX_LENGTH = 32  # rows longer than this are ranked by Python's sort (few, long)


def candidate_order(
    x: sp.spmatrix | np.ndarray, values: np.ndarray, primary: np.ndarray
) -> np.ndarray:
    """The default candidate order: indices of the non-primary cells, most preferred first.

    Zeros first; then decreasing value; ties: fewer nonzeros in the row first (detailed cells
    before totals), then the row itself (inner-cell indices, then coefficients,
    lexicographically), then cell index. The result depends only on the rows and values, not on
    the order in which the cells are listed (up to cells that are exact duplicates).
    """
    m = _as_csr(x)
    n = m.shape[0]
    vals = _vector(values, n, "values").astype(float)
    return _candidate_order(m, vals, _bool_vector(primary, n, "primary", False))


def _candidate_order(m: sp.csr_matrix, vals: np.ndarray, prim: np.ndarray) -> np.ndarray:
    """:func:`candidate_order` of a matrix :func:`_as_csr` has normalized, float values and a
    boolean primary mask (:func:`gauss_suppress` has them already)."""
    n = m.shape[0]
    nnz = np.diff(m.indptr)
    cells = np.flatnonzero(~prim)
    # The row comparison only matters between rows of the same length (the length decides
    # first): rank the rows of each length k by (inner-cell indices, coefficients), cell index
    # last, then sort everything by (zero?, -value, length, that rank). Short rows: a sort on
    # their 2k columns; long rows (few, the totals): Python's sort on the two lists.
    rank = np.zeros(n, dtype=np.int64)
    lengths = nnz[cells]
    for k in np.unique(lengths).tolist():
        rows = cells[lengths == k]  # ascending cell index: the last tie-break (stable sorts)
        if k == 0 or rows.size == 1:
            continue
        at = m.indptr[rows][:, None] + np.arange(k)
        ind, dat = m.indices[at], m.data[at]
        if k <= _LEXSORT_MAX_LENGTH:
            cols = [dat[:, j] for j in range(k - 1, -1, -1)]
            cols += [ind[:, j] for j in range(k - 1, -1, -1)]
            by_row = np.lexsort(cols)
        else:
            il, dl = ind.tolist(), dat.tolist()
            by_row = np.array(sorted(range(rows.size), key=lambda j: (il[j], dl[j])))
        rank[rows[by_row]] = np.arange(rows.size)
    v = vals[cells]
    return cells[np.lexsort((rank[cells], lengths, -v, v != 0))].astype(np.intp)


def _known_zero_inner(
    x: sp.csr_matrix, values: np.ndarray, primary: np.ndarray, inner_nonneg: np.ndarray
) -> np.ndarray:
    """Inner cells proven empty by published cells of value 0 (see the module docstring)."""
    n_inner = x.shape[1]
    known = np.zeros(n_inner, dtype=bool)
    zero_cells = np.flatnonzero((values == 0) & ~primary)
    if zero_cells.size == 0:
        return known
    sub = x[zero_cells]
    counts = np.diff(sub.indptr)
    row_of = np.repeat(np.arange(zero_cells.size), counts)
    cols = sub.indices
    bad_entry = (sub.data <= 0) | ~inner_nonneg[cols]
    used = np.zeros(zero_cells.size, dtype=bool)
    while True:
        live = ~known[cols]
        n_live = np.bincount(row_of[live], minlength=zero_cells.size)
        bad_rows = np.bincount(row_of[live & bad_entry], minlength=zero_cells.size) > 0
        # All remaining coefficients positive on inner cells >= 0, or a single remaining inner
        # cell (then it is 0 whatever its sign).
        qualifies = (~bad_rows | (n_live == 1)) & ~used
        if not qualifies.any():
            return known
        used |= qualifies
        newly = cols[qualifies[row_of]]
        if known[newly].all():
            continue
        known[newly] = True


# --------------------------------------------------------------------------- elimination


def _content_normalized(row: Row) -> Row:
    """``row`` divided by the gcd of its coefficients (the span does not change)."""
    if row:
        g = gcd(*row.values())
        if g != 1:
            return {k: v // g for k, v in row.items()}
    return row


def _line_key(row: Row) -> tuple:
    """A canonical key of the line spanned by a nonzero row: rows are parallel iff keys match."""
    items = sorted(row.items())
    g = gcd(*(v for _, v in items))
    if items[0][1] < 0:
        g = -g
    if g != 1:
        return tuple((k, v // g) for k, v in items)
    return tuple(items)


def _parallel(a: Row, b: Row) -> bool:
    """Whether two nonzero rows are multiples of each other."""
    if len(a) != len(b):
        return False
    k0 = next(iter(a))
    a0 = a[k0]
    b0 = b.get(k0)
    if b0 is None:
        return False
    for k, av in a.items():
        bv = b.get(k)
        if bv is None or av * b0 != bv * a0:
            return False
    return True


def _coefficients(rq: int, vq: int) -> tuple[int, int]:
    """Coprime ``(a, b)``, ``a > 0``, such that ``a*v - b*r`` cancels column q."""
    if rq == 1 or rq == -1:
        return 1, vq * rq
    g = gcd(rq, vq)
    a, b = rq // g, vq // g
    if a < 0:
        return -a, -b
    return a, b


class _RowSet:
    """Live rows (sparse dicts) with an index: column -> ids of the live rows holding it."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows: list[Row | None] = list(rows)
        self.cols: defaultdict[int, set[int]] = defaultdict(set)
        for u, row in enumerate(rows):
            for k in row:
                self.cols[k].add(u)

    def with_column(self, q: int) -> list[int]:
        """The live rows holding column ``q``."""
        return list(self.cols.get(q, ()))

    def take(self, u: int) -> Row:
        """Remove row ``u`` from the live rows and return it."""
        row = self.rows[u]
        assert row is not None
        self.rows[u] = None
        for k in row:
            self.cols[k].discard(u)
        return row

    def put(self, u: int, row: Row) -> None:
        """Make ``row`` live (again) as row ``u``."""
        self.rows[u] = row
        for k in row:
            self.cols[k].add(u)

    def _axpy(self, u: int, w: Row, r: Row, b: int) -> None:
        """``w -= b * r`` in place for live row ``u`` (index kept up to date)."""
        get = w.get
        cols = self.cols
        for k, rk in r.items():
            old = get(k)
            if old is None:
                w[k] = -b * rk
                cols[k].add(u)
            else:
                nv = old - b * rk
                if nv:
                    w[k] = nv
                else:
                    del w[k]
                    cols[k].discard(u)

    def eliminate(self, u: int, r: Row, q: int, rq: int) -> tuple[int, Row | None]:
        """Cancel column ``q`` of row ``u`` with the pivot row ``r``; returns undo data.

        Exact: ``w = a*v - b*r`` with ``a, b`` coprime integers; when ``a != 1`` (a non-unit
        pivot) the result is a new row divided by its content gcd.
        """
        w = self.rows[u]
        assert w is not None
        a, b = _coefficients(rq, w[q])
        if a == 1:
            self._axpy(u, w, r, b)
            return b, None
        self.take(u)
        new = {k: a * x for k, x in w.items()}
        for k, rk in r.items():
            nv = new.get(k, 0) - b * rk
            if nv:
                new[k] = nv
            else:
                del new[k]
        self.put(u, _content_normalized(new))
        return 0, w

    def revert(self, u: int, r: Row, undo: tuple[int, Row | None]) -> None:
        """Undo :meth:`eliminate` of row ``u`` (exactly)."""
        b, old = undo
        if old is None:
            w = self.rows[u]
            assert w is not None
            self._axpy(u, w, r, -b)
        else:
            self.take(u)
            self.put(u, old)


class _Component:
    """Gaussian elimination for one connected component (see the module docstring).

    The tracked rows (``track``: primary rows and singleton vectors) are kept reduced against
    the published rows (``basis``) after every publication, since every candidate is judged by
    what it does to them; a candidate's row (``cand``) is reduced when it comes up
    (:meth:`_reduced`), which does the same arithmetic as keeping every waiting candidate
    reduced but without updating them all, and their column index, after each publication
    (about a fifth less time on the largest component of a national year).
    """

    def __init__(
        self,
        cand_rows: list[Row],
        tracked_rows: list[Row],
        is_primary: list[bool],
        is_singleton: list[bool],
    ) -> None:
        # The candidates' rows as given: each is reduced against the basis when it comes up.
        self.cand: list[Row | None] = list(cand_rows)
        # Columns of the candidates not yet considered, counted (the pivot rule's estimate of
        # the rows a pivot on that column will touch later).
        self.waiting: defaultdict[int, int] = defaultdict(int)
        for row in cand_rows:
            for k in row:
                self.waiting[k] += 1
        self.basis: list[tuple[Row, int, int]] = []  # published rows: (row, pivot column, coef)
        self.pivot_of: dict[int, int] = {}  # pivot column -> its row's position in the basis
        self.track = _RowSet(tracked_rows)
        self.is_primary = is_primary
        self.is_singleton = is_singleton
        # Singleton bookkeeping, only when a singleton and another primary can meet: tracked
        # rows grouped by support (parallel rows have the same support).
        self.use_singletons = any(is_singleton) and len(tracked_rows) > 1
        self.ignored: set[tuple[int, int]] = set()
        self.pending_bad: list[tuple[int, int]] = []
        self.newsup: dict[int, tuple | None] = {}
        self.origkey: list[tuple | None] = []
        self.support: list[tuple | None] = []
        self.by_support: defaultdict[tuple, set[int]] = defaultdict(set)
        if self.use_singletons:
            for t, row in enumerate(tracked_rows):
                self.origkey.append(_line_key(row) if row else None)
                sup = tuple(sorted(row)) if row else None
                self.support.append(sup)
                if sup is not None:
                    self.by_support[sup].add(t)

    def _bad_pairs(self, members: list[int], touched: set[int]) -> list[tuple[int, int]]:
        """Parallel (singleton, primary) pairs among ``members`` (same support), one touched."""
        out = []
        trows = self.track.rows
        for s in members:
            if not self.is_singleton[s]:
                continue
            for p in members:
                if (
                    p != s
                    and self.is_primary[p]
                    and (s in touched or p in touched)
                    and self.origkey[p] != self.origkey[s]
                    and (s, p) not in self.ignored
                    and _parallel(trows[s], trows[p])  # type: ignore[arg-type]
                ):
                    out.append((s, p))
        return out

    def _singleton_check(self, touched: list[int]) -> bool:
        """After the tracked rows ``touched`` changed: does a singleton now reveal a primary?

        Records the offending pairs in ``pending_bad`` and the new supports in ``newsup``.
        """
        trows = self.track.rows
        groups: dict[tuple, list[int]] = {}
        newsup: dict[int, tuple | None] = {}
        for t in touched:
            w = trows[t]
            sup = tuple(sorted(w)) if w else None
            newsup[t] = sup
            if sup is not None:
                groups.setdefault(sup, []).append(t)
        self.newsup = newsup
        tset = set(touched)
        bad: list[tuple[int, int]] = []
        for sup, ts in groups.items():
            old = self.by_support.get(sup)
            members = ts + [u for u in old if u not in tset] if old else ts
            if len(members) > 1:
                bad += self._bad_pairs(members, tset)
        self.pending_bad = bad
        return bool(bad)

    def process(self, c: int) -> str:
        """Consider candidate ``c``: returns "published", "primary" or "singleton".

        "primary": publishing it would reveal a primary cell; "singleton": it would let a
        singleton contributor reveal another primary cell. Only "published" changes the state.
        """
        track = self.track
        raw = self.cand[c]
        assert raw is not None
        self.cand[c] = None
        waiting = self.waiting
        for k in raw:
            waiting[k] -= 1
        r = self._reduced(raw)
        if not r:
            return "published"
        # Pivot: the column held by the fewest rows (tracked rows, candidates still to come),
        # unit coefficients first.
        tcols = track.cols
        q = -1
        best = -1
        for k, val in r.items():
            s2 = tcols.get(k)
            cnt = (len(s2) if s2 else 0) + waiting.get(k, 0)
            if val != 1 and val != -1:
                cnt += 1 << 40
            if best < 0 or cnt < best:
                q, best = k, cnt
        rq = r[q]
        touched = track.with_column(q)
        if touched:
            trows = track.rows
            # A primary row parallel to r would be eliminated completely.
            n = len(r)
            for t in touched:
                row = trows[t]
                assert row is not None
                if self.is_primary[t] and len(row) == n and _parallel(row, r):
                    return "primary"
            # Reduce the tracked rows (undone if the singleton check fails).
            undo = [(t, track.eliminate(t, r, q, rq)) for t in touched]
            if self.use_singletons:
                if self._singleton_check(touched):
                    for t, u in undo:
                        track.revert(t, r, u)
                    return "singleton"
                for t in touched:
                    old = self.support[t]
                    if old is not None:
                        self.by_support[old].discard(t)
                    sup = self.newsup[t]
                    self.support[t] = sup
                    if sup is not None:
                        self.by_support[sup].add(t)
        # Publish: r joins the basis.
        self.pivot_of[q] = len(self.basis)
        self.basis.append((r, q, rq))
        tcols.pop(q, None)
        return "published"

    def _reduced(self, v: Row) -> Row:
        """Candidate row ``v`` reduced against the basis (``v`` itself may be changed).

        A basis row holds no pivot column of an earlier basis row (it was reduced when it came
        up), so eliminating the pivot columns of ``v`` in the order the pivots were published
        ends: a step can bring in only later pivot columns. The arithmetic is the eager
        reduction's, one pivot at a time and in the same order, without keeping every waiting
        candidate reduced after each publication.
        """
        pivot_of = self.pivot_of
        heap = [pivot_of[k] for k in v if k in pivot_of]
        if not heap:
            return v
        heapq.heapify(heap)
        basis = self.basis
        last = -1
        while heap:
            j = heapq.heappop(heap)
            if j == last:
                continue
            last = j
            r, q, rq = basis[j]
            vq = v.get(q)
            if vq is None:
                continue
            a, b = _coefficients(rq, vq)
            if a != 1:
                v = {k: a * x for k, x in v.items()}
            # the shape of _RowSet._axpy, kept apart on purpose: a shared helper taking a
            # callback for the new column cost the largest national component 1.94 -> 2.30 s
            get = v.get
            for k, rk in r.items():
                old = get(k)
                if old is None:
                    v[k] = -b * rk
                    p = pivot_of.get(k)
                    if p is not None:
                        heapq.heappush(heap, p)
                else:
                    nv = old - b * rk
                    if nv:
                        v[k] = nv
                    else:
                        del v[k]
            if a != 1:
                v = _content_normalized(v)
        return v

    def force(self, c: int) -> None:
        """Publish forced cell ``c`` whatever it reveals (primary revelation: ValueError)."""
        row = self.cand[c]
        saved = dict(row) if row is not None else {}
        outcome = self.process(c)
        if outcome == "primary":
            raise ValueError("forced cells reveal a primary cell; no suppression can protect it")
        if outcome == "singleton":
            log.warning(
                "forced cells let a singleton contributor reveal another primary cell "
                "(%d pair(s)); those pairs are left unprotected",
                len(self.pending_bad),
            )
            self.ignored.update(self.pending_bad)
            self.cand[c] = saved
            for k in saved:
                self.waiting[k] += 1
            outcome = self.process(c)
            assert outcome == "published"


# --------------------------------------------------------------------------- component cache


class ComponentCache:
    """Outcomes of solved components, kept from one publication to the next in one file.

    A component's outcome (published, primary or singleton for each candidate, in order) is a
    function of its rows, the candidate order, the forced cells and the flags, and its key is a
    hash of exactly those (inner cells renumbered by rank, so where the component sits in the
    whole model does not matter). A monthly publication changes few components: the years
    already final and the older months give the same keys and are not solved again.

    :meth:`save` writes the outcomes used by this run (read or solved) and nothing else, so the
    file holds one publication's components and does not grow with the history. A file that
    cannot be read is an empty cache; the independent audit checks the result either way.
    """

    VERSION = "3"
    _CODES: ClassVar[dict[str, str]] = {"published": "-", "primary": "x", "singleton": "s"}
    _NAMES: ClassVar[dict[str, str]] = {c: n for n, c in _CODES.items()}

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self._used: dict[str, str] = {}
        self._known = read_kept(self.path, self.VERSION, "outcomes")

    def get(self, key: str) -> list[str] | None:
        coded = self._used[key] if key in self._used else self._known.get(key)
        if not isinstance(coded, str) or not set(coded) <= self._NAMES.keys():
            self.misses += 1
            return None
        self.hits += 1
        self._used[key] = coded
        return [self._NAMES[c] for c in coded]

    def put(self, key: str, outcomes: list[str]) -> None:
        self._used[key] = "".join(self._CODES[o] for o in outcomes)

    def used(self) -> dict[str, str]:
        """The outcomes this run read or solved (coded), for :meth:`merge`."""
        return dict(self._used)

    def merge(self, used: dict[str, str], hits: int, misses: int) -> None:
        """Take in what another process's cache read and solved (:meth:`used`)."""
        self._used.update(used)
        self.hits += hits
        self.misses += misses

    def save(self) -> None:
        """Keep this run's outcomes for the next run (a failure costs speed, not figures)."""
        write_kept(self.path, self.VERSION, "outcomes", self._used)


def _component_key(
    m: sp.csr_matrix,
    cells: np.ndarray,
    n_forced: int,
    n_primary: int,
    inner: np.ndarray,
    is_singleton: np.ndarray,
) -> str:
    """The cache key of a component: its rows ``m[cells]`` (forced cells, then candidates in
    order, then primary cells), content-normalized, with their inner cells renumbered 0.. by
    rank (so where the component sits in the whole model does not matter); its singleton
    inner cells ``inner`` (renumbered alike) and the flags. Computed on the arrays, before any
    row is built: a component found in the cache is never turned into rows."""
    starts, ends = m.indptr[cells], m.indptr[cells + 1]
    lengths = ends - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if cells.size else lengths
    at = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
    cols, vals = m.indices[at], m.data[at].astype(np.int64)
    if vals.size and np.any(np.abs(vals) != 1):
        full = lengths > 0
        g = np.ones(cells.size, dtype=np.int64)
        g[full] = np.gcd.reduceat(np.abs(vals), offsets[full])
        vals = vals // np.repeat(g, lengths)
    ids = np.unique(cols)
    h = hashlib.sha256(f"v{ComponentCache.VERSION};{n_forced};{n_primary};{inner.size};".encode())
    for part in (lengths, np.searchsorted(ids, cols), vals, np.searchsorted(ids, inner)):
        h.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
        h.update(b"|")
    h.update(np.ascontiguousarray(is_singleton, dtype=bool).tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- entry point


def gauss_suppress(
    x: sp.spmatrix,
    values: np.ndarray,
    primary: np.ndarray,
    *,
    inner_nonneg: np.ndarray | None = None,
    inner_values: np.ndarray | None = None,
    order: np.ndarray | None = None,
    forced: np.ndarray | None = None,
    cache: ComponentCache | None = None,
) -> SuppressionResult:
    """Secondary suppression by Gaussian elimination (see the module docstring).

    ``x`` (n_cells, n_inner): row ``i`` expresses published cell ``i`` as an integer linear
    combination of inner cells; ``values``: the true value of each cell; ``primary``: cells that
    must not be derivable; ``inner_nonneg``: inner cells known to be >= 0 (default all), used by
    the zero rule; ``inner_values``: true inner frequencies where known (NaN = unknown), used for
    singletons; ``order``: explicit candidate order (cell indices; primary and forced cells in it
    are skipped, candidates missing from it follow in the default order); ``forced``: cells that
    are never suppressed; ``cache``: outcomes of components solved before (a component's
    outcome is a function of its rows, its order and its flags, see :class:`ComponentCache`).
    """
    m = _as_csr(x)
    n_cells, n_inner = m.shape
    vals = _vector(values, n_cells, "values").astype(float)
    prim = _bool_vector(primary, n_cells, "primary", False)
    frc = _bool_vector(forced, n_cells, "forced", False)
    nonneg = _bool_vector(inner_nonneg, n_inner, "inner_nonneg", True)
    if (prim & frc).any():
        raise ValueError("a cell cannot be both primary and forced")
    ivals = None
    if inner_values is not None:
        ivals = _vector(inner_values, n_inner, "inner_values").astype(float)

    # Candidate order.
    default = _candidate_order(m, vals, prim)
    if order is None:
        ordered = default
    else:
        given = np.asarray(order)
        if given.size == 0:
            given = given.astype(np.intp)
        if given.ndim != 1 or (given.size and not np.issubdtype(given.dtype, np.integer)):
            raise ValueError("order must be a 1-dimensional array of cell indices")
        if given.size and (given.min() < 0 or given.max() >= n_cells):
            raise ValueError("order holds a cell index out of range")
        if np.unique(given).size != given.size:
            raise ValueError("order lists a cell more than once")
        listed = np.zeros(n_cells, dtype=bool)
        listed[given] = True
        ordered = np.concatenate([given[~prim[given]], default[~listed[default]]])
    cand = ordered[~frc[ordered]]

    # Zero rule: drop the columns of inner cells proven empty by published zeros.
    known_zero = _known_zero_inner(m, vals, prim, nonneg)
    if known_zero.any():
        m.data[known_zero[m.indices]] = 0
        m.eliminate_zeros()
    row_nnz = np.diff(m.indptr)
    empty_primary = np.flatnonzero(prim & (row_nnz == 0))
    if empty_primary.size:
        raise ValueError(
            f"primary cell(s) {empty_primary[:10].tolist()} are derivable from published zero "
            "cells (or have an empty row); secondary suppression cannot protect them"
        )

    secondary = np.zeros(n_cells, dtype=bool)
    singleton_extra = 0
    tried = 0
    if not prim.any():
        return SuppressionResult(secondary, prim | secondary, 0, 0)

    # Connected components of the bipartite cell/inner-cell graph.
    graph = sp.bmat([[None, m], [m.T, None]], format="csr")
    _, labels = connected_components(graph, directed=False)
    lab_cell = labels[:n_cells]
    lab_inner = labels[n_cells:]
    active_labels = np.unique(lab_cell[prim])
    active = np.isin(lab_cell, active_labels)

    # Inner singleton vectors (only when inner_values is given).
    single_inner = np.zeros(n_inner, dtype=bool)
    if ivals is not None:
        single_inner = (ivals == 1) & ~known_zero & np.isin(lab_inner, active_labels)
        # Skip inner cells whose unit vector is already the row of a value-1 primary cell.
        own = np.flatnonzero(prim & (vals == 1) & (row_nnz == 1))
        single_inner[m.indices[m.indptr[own]]] = False

    def grouped(items: np.ndarray, labs: np.ndarray) -> dict[int, np.ndarray]:
        if items.size == 0:
            return {}
        idx = np.argsort(labs, kind="stable")
        sl, it = labs[idx], items[idx]
        cuts = np.flatnonzero(np.diff(sl)) + 1
        return {int(g[0]): h for g, h in zip(np.split(sl, cuts), np.split(it, cuts), strict=True)}

    forced_cells = np.flatnonzero(frc & active)
    cand_active = cand[active[cand]]
    prim_cells = np.flatnonzero(prim)
    inner_single = np.flatnonzero(single_inner)
    by_forced = grouped(forced_cells, lab_cell[forced_cells])
    by_cand = grouped(cand_active, lab_cell[cand_active])
    by_prim = grouped(prim_cells, lab_cell[prim_cells])
    by_inner = grouped(inner_single, lab_inner[inner_single])

    ind = m.indices.tolist()
    dat = m.data.tolist()
    ptr = m.indptr.tolist()

    def row_of(i: int) -> Row:
        a, b = ptr[i], ptr[i + 1]
        return _content_normalized(dict(zip(ind[a:b], dat[a:b], strict=True)))

    none = np.empty(0, dtype=np.intp)
    for lab in active_labels.tolist():
        fa, ca, pa = by_forced.get(lab, none), by_cand.get(lab, none), by_prim[lab]
        ia = by_inner.get(lab, none)
        fc, cc, pc, ic = fa.tolist(), ca.tolist(), pa.tolist(), ia.tolist()
        is_singleton = [bool(vals[i] == 1) for i in pc] + [True] * len(ic)
        n_primary = len(pc)
        key, outcomes = None, None
        if cache is not None:
            key = _component_key(
                m, np.concatenate([fa, ca, pa]), len(fc), n_primary, ia, np.array(is_singleton)
            )
            outcomes = cache.get(key)
            if outcomes is not None and len(outcomes) != len(cc):
                outcomes = None
        if outcomes is None:
            # the elimination depends on the inner cells' order only, never on their numbers
            cand_rows = [row_of(i) for i in fc + cc]
            tracked_rows = [row_of(i) for i in pc] + [{j: 1} for j in ic]
            comp = _Component(
                cand_rows=cand_rows,
                tracked_rows=tracked_rows,
                is_primary=[True] * n_primary + [False] * len(ic),
                is_singleton=is_singleton,
            )
            for c in range(len(fc)):
                comp.force(c)
            outcomes = [comp.process(c) for c in range(len(fc), len(fc) + len(cc))]
            if cache is not None and key is not None:
                cache.put(key, outcomes)
        for cell, outcome in zip(cc, outcomes, strict=True):
            if outcome != "published":
                secondary[cell] = True
                singleton_extra += outcome == "singleton"
        tried += len(cc)

    return SuppressionResult(
        secondary=secondary,
        hidden=prim | secondary,
        candidates_tried=tried,
        singleton_extra=singleton_extra,
    )
