"""Independent disclosure audit of published statistical tables.

This module re-checks published tables without sharing any code with the suppression step. It
receives the cells exactly as they are published (a hidden cell is ``None`` or NaN), the true
value of every hidden cell, which hidden cells are primary (counts ``1..threshold-1``), and the
linear relations that hold among the published cells (``sum(coef * cell) == 0``: margins,
fylke = sum of its kommuner, the same measure in two tables, ...).

Attacker model
--------------
The attacker knows every declared linear relation, every visible value, that counts are
non-negative (``nonneg=True``) and that counts are integers. The attacker knows nothing else:
no inner (unpublished) cells, no hidden values, no external data.

What "recoverable" means
------------------------
A hidden cell is *recoverable* when the attacker can compute its value exactly:

* linearly: the cell's unit vector lies in the row space of the relations restricted to the
  hidden cells (after substituting the visible values), i.e. some linear combination of the
  relations isolates the cell; or
* by linear programming (primary cells only): the interval ``[min, max]`` of the cell over all
  hidden values that satisfy the relations (and are ``>= 0`` when ``nonneg``) contains exactly
  one integer.

A primary cell that is not recoverable but whose LP interval is narrower than ``min_width`` is
reported in ``AuditResult.narrow`` (report only; it does not fail the audit).

Method
------
1. Every relation is evaluated on the visible cells; a relation without hidden cells must hold
   (within 1e-6), otherwise the relations or the data are wrong and ``ValueError`` is raised. The
   true values must satisfy every relation as well. What remains is ``A h = b`` over the hidden
   cells ``h``.
2. Peeling: a relation with a single unknown hidden cell determines it; substituting it may
   leave other relations with a single unknown, and so on. This exact, cheap step finds the
   typical leaks (hidden total with visible parts, zero partners, kommune = fylke, ...) and gives
   a readable derivation chain.
3. The rest of the system is split into connected components (hidden cells linked by a shared
   relation). In each component a cell is linearly determined iff it has no component in the
   null space of ``A``: a dense SVD for small components; for the large ones (together) random
   null-space probes by inverse iteration with one sparse factorisation of ``A^T A + delta I``,
   and a certificate (zero null-space part of the unit vector) for every cell the probes could
   not rule out.
4. LP intervals (``scipy.optimize.linprog``, HiGHS) for every primary cell that is not linearly
   determined. Secondary cells get the linear test only (fast path): they are only reported, and
   the audit verdict is about primary cells. Components are independent, so one LP minimising a
   sum of one target cell per component gives every target's exact bound at once. Feasible
   points seen on the way (the true values, earlier LP vertices) bound the interval from inside;
   a cell whose observed range already spans two integers (and ``min_width``) cannot be
   recoverable or narrow and needs no exact bound. Variables are boxed at a large bound
   (``_big_bound``) so that no LP is unbounded; an interval end beyond half of it is reported
   as infinite.

``Finding.relations`` names the relations the attacker combines: the non-zero multipliers of a
solution ``y`` of ``A^T y = e_i`` (the peeling derivation, or the minimum-norm least-squares
solution), or the LP duals for an LP recovery, ordered by absolute multiplier (ties in the order
the attacker applies them) and cut at eight names (then a last entry ``"... +N more"``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

CellKey = tuple[str, tuple, str]

_CONSISTENCY_TOL = 1e-6  # absolute violation of a relation that is an error
_INT_TOL = 1e-7  # tolerance of the integer test on LP intervals
_NULL_TOL = 1e-7  # null-space norm of a cell below which it is determined (dense path)
_PROBE_TOL = 1e-6  # null-space probe component above which a cell is undetermined
_CERT_TOL = 1e-6  # null-space part of e_i below which a cell is determined (sparse path)
_DENSE_LIMIT = 40  # largest component (hidden cells) handled with a dense SVD
_N_PROBES = 3
_MAX_CHAIN = 8  # relation names kept in Finding.relations
_MULT_CAP = 256  # multipliers kept per peeled cell (for naming only)
_PUSH_ROUNDS = 8  # heuristic LP rounds that push many unresolved cells at once
_SEED = 20240601


@dataclass(frozen=True)
class Relation:
    """A linear relation among published cells: ``sum(coef * cell) == 0``."""

    name: str
    terms: tuple[tuple[CellKey, float], ...]


@dataclass(frozen=True)
class Finding:
    """A hidden cell the attacker recovers (or, in ``narrow``, bounds tightly)."""

    cell: CellKey
    value: float
    lower: float
    upper: float
    primary: bool
    relations: tuple[str, ...]

    def message(self) -> str:
        """One line: table, cell (row key and column), value, interval and relation chain."""
        table, row, column = self.cell
        row_text = ", ".join(str(part) for part in row)
        kind = "primary" if self.primary else "secondary"
        chain = " -> ".join(self.relations) if self.relations else "(no relation)"
        text = (
            f"{table}: row ({row_text}), column {column}: {kind} hidden cell, value "
            f"{self.value:g}, attacker interval [{self.lower:g}, {self.upper:g}], "
            f"via {chain}"
        )
        return " ".join(text.split())


@dataclass
class AuditResult:
    """Outcome of :func:`audit_cells`."""

    hidden: int
    primary_hidden: int
    secondary_hidden: int
    recoverable: list[Finding] = field(default_factory=list)
    narrow: list[Finding] = field(default_factory=list)

    @property
    def recoverable_primary(self) -> list[Finding]:
        return [f for f in self.recoverable if f.primary]

    @property
    def passed(self) -> bool:
        """True when no primary cell is recoverable."""
        return not self.recoverable_primary

    def summary(self) -> dict:
        """JSON-able counts for a gate record."""
        n_primary = len(self.recoverable_primary)
        return {
            "passed": self.passed,
            "hidden": self.hidden,
            "primary_hidden": self.primary_hidden,
            "secondary_hidden": self.secondary_hidden,
            "recoverable": len(self.recoverable),
            "recoverable_primary": n_primary,
            "recoverable_secondary": len(self.recoverable) - n_primary,
            "narrow": len(self.narrow),
        }


# --------------------------------------------------------------------------------------------
# input handling


def _as_float(value: object) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except TypeError:
        if repr(value) in {"<NA>", "NaT"}:  # pandas missing values
            return math.nan
        raise


def _names(relations: list[Relation], idx: np.ndarray, limit: int = 5) -> str:
    shown = [repr(relations[int(i)].name) for i in idx[:limit]]
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return ", ".join(shown) + more


def _relation_matrix(
    relations: list[Relation], index: dict[CellKey, int], n_cells: int
) -> sp.csr_matrix:
    """Relations x cells matrix of coefficients (duplicate terms summed, zeros dropped)."""
    n_rel = len(relations)
    lengths = np.fromiter((len(r.terms) for r in relations), dtype=np.int64, count=n_rel)
    total = int(lengths.sum())
    keys = [term[0] for rel in relations for term in rel.terms]
    coefs = np.fromiter(
        (term[1] for rel in relations for term in rel.terms), dtype=float, count=total
    )
    get = index.get
    cols = np.fromiter((get(k, -1) for k in keys), dtype=np.int64, count=total)
    rows = np.repeat(np.arange(n_rel, dtype=np.int64), lengths)
    missing = np.flatnonzero(cols < 0)
    if missing.size:
        first = int(missing[0])
        raise ValueError(
            f"relation {relations[int(rows[first])].name!r} references cell {keys[first]!r}, "
            "which is not among the published cells"
        )
    if not np.all(np.isfinite(coefs)):
        bad = np.unique(rows[~np.isfinite(coefs)])
        raise ValueError(f"relation(s) {_names(relations, bad)} have non-finite coefficients")
    matrix = sp.csr_matrix((coefs, (rows, cols)), shape=(n_rel, n_cells))
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


# --------------------------------------------------------------------------------------------
# linear determination of the components left after peeling


def _dense_block(mat: sp.csr_matrix, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Dense copy of a diagonal block of a block-diagonal CSR matrix."""
    block = np.zeros((r1 - r0, c1 - c0))
    start, stop = mat.indptr[r0], mat.indptr[r1]
    counts = np.diff(mat.indptr[r0 : r1 + 1])
    local_rows = np.repeat(np.arange(r1 - r0), counts)
    block[local_rows, mat.indices[start:stop] - c0] = mat.data[start:stop]
    return block


def _dense_rank(block: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Determined cells of one component and a multiplier vector y (A^T y = e_i) for each."""
    m, k = block.shape
    u, s, vt = np.linalg.svd(block, full_matrices=m < k)
    tol = max(m, k) * np.finfo(float).eps * (s[0] if s.size else 0.0)
    rank = int((s > tol).sum())
    null_norm = np.sqrt((vt[rank:] ** 2).sum(axis=0))
    determined = null_norm < _NULL_TOL
    mults = {int(i): u[:, :rank] @ (vt[:rank, i] / s[:rank]) for i in np.flatnonzero(determined)}
    return determined, mults


def _null_part(
    block: sp.csr_matrix, lu, delta: float, z: np.ndarray, max_steps: int = 12
) -> np.ndarray:
    """Null-space component of the columns of ``z`` by inverse iteration.

    ``lu`` factorises ``block^T block + delta I``. The map ``z -> delta (block^T block +
    delta I)^-1 z`` keeps null-space components and shrinks a row-space component of singular
    value ``s`` by ``delta / (s^2 + delta)``; it is applied until every column is either
    (numerically) zero or a null vector.
    """
    for _ in range(max_steps):
        z = delta * lu.solve(z)
        size = np.linalg.norm(z, axis=0)
        residual = np.linalg.norm(block @ z, axis=0)
        if np.all((size < 1e-13) | (residual <= 1e-11 * size)):
            break
    return z


def _sparse_rank(
    block: sp.csr_matrix, rng: np.random.Generator
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Like :func:`_dense_rank` for large components, with one sparse factorisation.

    ``block`` may hold several components (block diagonal). Random probes projected on the
    null space rule out every cell with a non-zero null-space entry (with probability one);
    every other cell needs a certificate: the null-space part of its unit vector is zero. The
    multipliers are ``y = block (block^T block + delta I)^-1 e_i``, the minimum-norm solution
    of ``block^T y = e_i`` up to a relative error of order ``delta / s_min^2``.
    """
    k = block.shape[1]
    gram = (block.T @ block).tocsc()
    delta = 1e-9 * max(float(gram.diagonal().max()), 1.0)
    lu = splu(
        (gram + delta * sp.identity(k, format="csc")).tocsc(),
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
    )
    probes = _null_part(block, lu, delta, rng.standard_normal((k, _N_PROBES)))
    undetermined = np.abs(probes).max(axis=1) > _PROBE_TOL
    determined = np.zeros(k, dtype=bool)
    mults: dict[int, np.ndarray] = {}
    candidates = np.flatnonzero(~undetermined)
    for start in range(0, candidates.size, 256):
        chunk = candidates[start : start + 256]
        units = np.zeros((k, chunk.size))
        units[chunk, np.arange(chunk.size)] = 1.0
        rest = np.linalg.norm(_null_part(block, lu, delta, units), axis=0)
        ys = block @ lu.solve(units)
        for t, i in enumerate(chunk.tolist()):
            if rest[t] < _CERT_TOL:
                determined[i] = True
                mults[i] = ys[:, t]
    return determined, mults


# --------------------------------------------------------------------------------------------
# the audit


class _Chains:
    """Names the relations behind a multiplier vector, expanded through the peeling steps."""

    def __init__(
        self,
        relations: list[Relation],
        rel_ids: np.ndarray,
        active: sp.csr_matrix,
        peeled: np.ndarray,
        peel_step: np.ndarray,
    ) -> None:
        self.relations = relations
        self.rel_ids = rel_ids
        self.indptr = active.indptr
        self.indices = active.indices
        self.data = active.data
        self.active = active
        self.peeled = peeled
        self.peel_step = peel_step
        self.peel_mult: dict[int, dict[int, float]] = {}

    def row_terms(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.indptr[row], self.indptr[row + 1]
        return self.indices[lo:hi], self.data[lo:hi]

    def add_peeled(self, cell: int, row: int) -> None:
        """Multipliers of a cell pinned by ``row`` once its other hidden cells are known."""
        cols, coefs = self.row_terms(row)
        pivot = float(coefs[cols == cell][0])
        mult: dict[int, float] = {row: 1.0 / pivot}
        for other, coef in zip(cols.tolist(), coefs.tolist(), strict=True):
            if other == cell:
                continue
            factor = coef / pivot
            for r, c in self.peel_mult[other].items():
                mult[r] = mult.get(r, 0.0) - factor * c
        if len(mult) > _MULT_CAP:
            top = sorted(mult.items(), key=lambda rc: -abs(rc[1]))[:_MULT_CAP]
            mult = dict(top)
        self.peel_mult[cell] = mult

    def expand(self, mult: dict[int, float]) -> dict[int, float]:
        """Add the peeling derivations of the peeled cells a combination of rows touches."""
        if not mult:
            return {}
        rows = np.fromiter(mult, dtype=np.int64, count=len(mult))
        ys = np.fromiter(mult.values(), dtype=float, count=len(mult))
        weights = self.active[rows].T @ ys
        out = dict(mult)
        for col in np.flatnonzero(self.peeled & (np.abs(weights) > 1e-12)).tolist():
            w = float(weights[col])
            for r, c in self.peel_mult[col].items():
                out[r] = out.get(r, 0.0) - w * c
        return out

    def names(self, mult: dict[int, float]) -> tuple[str, ...]:
        """Relation names by decreasing |multiplier| (ties: order of use), at most eight."""
        if not mult:
            return ()
        rows = np.fromiter(mult, dtype=np.int64, count=len(mult))
        size = np.abs(np.fromiter(mult.values(), dtype=float, count=len(mult)))
        keep = size > 1e-9 * max(float(size.max()), 1e-300)
        rows, size = rows[keep], np.round(size[keep], 9)
        order = np.lexsort((rows, self.peel_step[rows], -size))
        ordered = self.rel_ids[rows[order]]
        names: list[str] = []
        for rel in ordered.tolist():
            name = self.relations[rel].name
            if name not in names:
                names.append(name)
                if len(names) > _MAX_CHAIN:
                    extra = np.unique(ordered).size - _MAX_CHAIN
                    return (*names[:_MAX_CHAIN], f"... +{extra} more")
        return tuple(names)


def _big_bound(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    scale = float(finite.max()) if finite.size else 0.0
    return max(1e9, 1e4 * scale)


def audit_cells(
    cells: dict[CellKey, float | None],
    true_values: dict[CellKey, float],
    primary: set[CellKey],
    relations: list[Relation],
    *,
    nonneg: bool = True,
    min_width: float = 0.0,
    free: frozenset[CellKey] | set[CellKey] = frozenset(),
) -> AuditResult:
    """Decide for every hidden cell whether the visible cells and the relations determine it.

    ``cells`` are the published values (``None``/NaN = hidden); ``true_values`` must hold the
    unsuppressed value of every hidden cell; ``primary`` is the subset of hidden cells that are
    primary-suppressed; every cell a relation refers to must be in ``cells``. Raises
    ``ValueError`` when a relation does not hold (on the visible cells, or with the true values)
    or the inputs are inconsistent. ``free`` cells may be negative (a difference such as a
    revision): they get no lower bound even when ``nonneg``. See the module docstring for the
    method.
    """
    keys = list(cells)
    n_cells = len(keys)
    index = {key: i for i, key in enumerate(keys)}
    values = np.fromiter((_as_float(cells[k]) for k in keys), dtype=float, count=n_cells)
    if np.isinf(values).any():
        bad = keys[int(np.flatnonzero(np.isinf(values))[0])]
        raise ValueError(f"published cell {bad!r} is infinite")
    hidden_mask = np.isnan(values)
    hidden_idx = np.flatnonzero(hidden_mask)
    n_hidden = int(hidden_idx.size)
    local = np.full(n_cells, -1, dtype=np.int64)
    local[hidden_idx] = np.arange(n_hidden)

    # true values of the hidden cells
    full = values.copy()
    for j in hidden_idx.tolist():
        key = keys[j]
        if key not in true_values:
            raise ValueError(f"no true value for hidden cell {key!r}")
        full[j] = _as_float(true_values[key])
    if not np.all(np.isfinite(full)):
        bad = keys[int(np.flatnonzero(~np.isfinite(full))[0])]
        raise ValueError(f"true value of hidden cell {bad!r} is not finite")
    is_free = np.zeros(n_hidden, dtype=bool)
    for key in free:
        j = index.get(key)
        if j is not None and hidden_mask[j]:
            is_free[local[j]] = True
    if nonneg and (full[hidden_idx][~is_free] < 0).any():
        neg = np.flatnonzero((full[hidden_idx] < 0) & ~is_free)[0]
        bad = keys[int(hidden_idx[neg])]
        raise ValueError(f"hidden cell {bad!r} has a negative true value but nonneg=True")

    is_primary = np.zeros(n_hidden, dtype=bool)
    for key in primary:
        j = index.get(key)
        if j is None:
            raise ValueError(f"primary cell {key!r} is not among the published cells")
        if not hidden_mask[j]:
            raise ValueError(f"primary cell {key!r} is published (not hidden)")
        is_primary[local[j]] = True
    result = AuditResult(
        hidden=n_hidden,
        primary_hidden=int(is_primary.sum()),
        secondary_hidden=n_hidden - int(is_primary.sum()),
    )
    if not relations:
        return result
    matrix = _relation_matrix(relations, index, n_cells)
    _check(relations, matrix, full, hidden_mask)
    if n_hidden == 0:
        return result

    # A h = b over the hidden cells; relations without hidden cells drop out
    hidden_part = matrix.tocsc()[:, hidden_idx].tocsr()
    per_row = np.diff(hidden_part.indptr)
    rel_ids = np.flatnonzero(per_row > 0)
    active = hidden_part[rel_ids].tocsr()
    active.sort_indices()
    n_rows = active.shape[0]
    h_true = full[hidden_idx]

    # ---- peeling: relations with one unknown hidden cell
    count = np.diff(active.indptr).tolist()
    row_of_nz = np.repeat(np.arange(n_rows), np.diff(active.indptr))
    sum_idx = np.bincount(row_of_nz, weights=active.indices, minlength=n_rows)
    sum_idx_l = [round(x) for x in sum_idx.tolist()]
    by_col = active.tocsc()
    col_ptr, col_rows = by_col.indptr, by_col.indices
    peeled = np.zeros(n_hidden, dtype=bool)
    peel_step = np.full(n_rows, np.iinfo(np.int64).max, dtype=np.int64)
    order: list[tuple[int, int]] = []
    queue = deque(r for r in range(n_rows) if count[r] == 1)
    while queue:
        row = queue.popleft()
        if count[row] != 1:
            continue
        cell = sum_idx_l[row]
        peeled[cell] = True
        peel_step[row] = len(order)
        order.append((cell, row))
        for other in col_rows[col_ptr[cell] : col_ptr[cell + 1]].tolist():
            count[other] -= 1
            sum_idx_l[other] -= cell
            if count[other] == 1:
                queue.append(other)

    chains = _Chains(relations, rel_ids, active, peeled, peel_step)
    for cell, row in order:
        chains.add_peeled(cell, row)

    # ---- findings collected per hidden cell (local index)
    found: dict[int, Finding] = {}
    narrow: dict[int, Finding] = {}

    def make(cell: int, lower: float, upper: float, mult: dict[int, float]) -> Finding:
        return Finding(
            cell=keys[int(hidden_idx[cell])],
            value=float(h_true[cell]),
            lower=float(lower),
            upper=float(upper),
            primary=bool(is_primary[cell]),
            relations=chains.names(mult),
        )

    for cell, _row in order:
        v = h_true[cell]
        found[cell] = make(cell, v, v, chains.peel_mult[cell])

    # ---- reduced system: remaining relations over the cells peeling did not determine
    rem_rows = np.flatnonzero(np.asarray(count) > 0)
    in_rows = np.zeros(n_hidden, dtype=bool)
    if rem_rows.size:
        in_rows[np.unique(active[rem_rows].indices)] = True
    red_cols = np.flatnonzero(in_rows & ~peeled)
    reduced = active[rem_rows][:, red_cols].tocsr()
    n_rr, n_rc = reduced.shape

    if n_rc:
        graph = sp.coo_matrix(
            (
                np.ones(reduced.nnz),
                (np.repeat(np.arange(n_rr), np.diff(reduced.indptr)), n_rr + reduced.indices),
            ),
            shape=(n_rr + n_rc, n_rr + n_rc),
        )
        n_comp, labels = connected_components(graph, directed=False)
        row_lab, col_lab = labels[:n_rr], labels[n_rr:]
        row_perm = np.argsort(row_lab, kind="stable")
        col_perm = np.argsort(col_lab, kind="stable")
        block = reduced[row_perm][:, col_perm].tocsr()
        block.sort_indices()
        row_start = np.concatenate([[0], np.cumsum(np.bincount(row_lab, minlength=n_comp))])
        col_start = np.concatenate([[0], np.cumsum(np.bincount(col_lab, minlength=n_comp))])
        comp_of_col = col_lab[col_perm]
        comp_of_row = row_lab[row_perm]
        cell_of = red_cols[col_perm]  # hidden local index of each block column
        active_row_of = rem_rows[row_perm]  # active-row index of each block row

        # linear determination: small components dense, the large ones together (sparse)
        rng = np.random.default_rng(_SEED)
        lin_det = np.zeros(n_rc, dtype=bool)
        determined_by: list[tuple[int, np.ndarray, np.ndarray]] = []  # block col, rows, y
        sizes = np.diff(col_start)
        for comp in np.flatnonzero(sizes <= _DENSE_LIMIT).tolist():
            r0, r1 = int(row_start[comp]), int(row_start[comp + 1])
            c0, c1 = int(col_start[comp]), int(col_start[comp + 1])
            det, mults = _dense_rank(_dense_block(block, r0, r1, c0, c1))
            lin_det[c0:c1] = det
            rows = np.arange(r0, r1)
            determined_by.extend((c0 + i, rows, y) for i, y in mults.items())
        if (sizes > _DENSE_LIMIT).any():
            large_rows = np.flatnonzero(sizes[comp_of_row] > _DENSE_LIMIT)
            large_cols = np.flatnonzero(sizes[comp_of_col] > _DENSE_LIMIT)
            det, mults = _sparse_rank(block[large_rows][:, large_cols].tocsr(), rng)
            lin_det[large_cols] = det
            determined_by.extend((int(large_cols[i]), large_rows, y) for i, y in mults.items())
        for col, rows, y in determined_by:
            used = np.flatnonzero(np.abs(y) > 1e-10 * max(float(np.abs(y).max()), 1e-300))
            mult = dict(zip(active_row_of[rows[used]].tolist(), y[used].tolist(), strict=True))
            cell = int(cell_of[col])
            v = h_true[cell]
            found[cell] = make(cell, v, v, chains.expand(mult))

        # LP intervals of the primary cells that are not linearly determined
        tasks = np.flatnonzero(is_primary[cell_of] & ~lin_det)
        intervals = _lp_intervals(
            block=block,
            h=h_true[cell_of],
            fixed=lin_det,
            tasks=tasks,
            comp_of_col=comp_of_col,
            comp_of_row=comp_of_row,
            row_start=row_start,
            nonneg=nonneg,
            lower_free=is_free[cell_of],
            min_width=min_width,
            big=_big_bound(full),
            rng=rng,
        )
        for col, lower, upper, duals in intervals:
            recoverable = (
                math.isfinite(lower)
                and math.isfinite(upper)
                and math.floor(upper + _INT_TOL) == math.ceil(lower - _INT_TOL)
            )
            if not recoverable and not upper - lower < min_width:
                continue
            cell = int(cell_of[col])
            mult = chains.expand({int(active_row_of[r]): c for r, c in duals.items()})
            finding = make(cell, lower, upper, mult)
            if recoverable:
                found[cell] = finding
            else:
                narrow[cell] = finding

    # primary cells in no remaining relation have the interval [0, inf) (or the whole line):
    # never recoverable, never narrow.
    result.recoverable = [found[c] for c in sorted(found)]
    result.narrow = [narrow[c] for c in sorted(narrow)]
    return result


def _check(
    relations: list[Relation], matrix: sp.csr_matrix, full: np.ndarray, hidden_mask: np.ndarray
) -> None:
    """Raise ValueError when a relation does not hold on the visible or the true values."""
    residual = matrix @ full
    scale = abs(matrix) @ np.abs(full)
    bad = np.abs(residual) > _CONSISTENCY_TOL + 1e-12 * scale
    if not bad.any():
        return
    has_hidden = abs(matrix) @ hidden_mask.astype(float) > 0
    visible_bad = np.flatnonzero(bad & ~has_hidden)
    if visible_bad.size:
        raise ValueError(
            f"the visible cells violate relation(s) {_names(relations, visible_bad)}: "
            "the relations or the data are wrong"
        )
    true_bad = np.flatnonzero(bad)
    raise ValueError(
        f"the true values violate relation(s) {_names(relations, true_bad)}: "
        "the relations or the data are wrong"
    )


def _lp_intervals(
    *,
    block: sp.csr_matrix,
    h: np.ndarray,
    fixed: np.ndarray,
    tasks: np.ndarray,
    comp_of_col: np.ndarray,
    comp_of_row: np.ndarray,
    row_start: np.ndarray,
    nonneg: bool,
    min_width: float,
    big: float,
    rng: np.random.Generator,
    lower_free: np.ndarray | None = None,
) -> list[tuple[int, float, float, dict[int, float]]]:
    """Exact LP intervals of the task columns that observed feasible points cannot clear.

    ``block`` is block diagonal (one block per component); ``h`` the true values of its columns
    (a feasible point); ``fixed`` columns are linearly determined and kept at their value.
    Returns ``(col, lower, upper, duals)`` for every task that needed both exact bounds (it may
    be recoverable or narrow); ``duals`` maps block rows to the absolute LP multipliers of the
    two bound LPs. Tasks cleared by observed points are safe and not returned.
    """
    if tasks.size == 0:
        return []
    n_rows, n_cols = block.shape
    b = block @ h
    lb = np.full(n_cols, 0.0 if nonneg else -big)
    if lower_free is not None:
        lb[lower_free] = -big
    ub = np.full(n_cols, big)
    lb[fixed] = h[fixed]
    ub[fixed] = h[fixed]
    lo_seen = h.copy()
    hi_seen = h.copy()
    exact_lo = np.full(n_cols, np.nan)
    exact_hi = np.full(n_cols, np.nan)
    duals: dict[int, dict[int, float]] = {}

    def cleared(cols: np.ndarray) -> np.ndarray:
        lo, hi = lo_seen[cols], hi_seen[cols]
        two_integers = np.floor(hi + _INT_TOL) - np.ceil(lo - _INT_TOL) >= 1
        return two_integers & (hi - lo >= min_width)

    def solve(cost: np.ndarray, comps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Solve the LP restricted to ``comps``; return its columns, rows, x and row duals."""
        col_mask = np.isin(comp_of_col, comps)
        row_mask = np.isin(comp_of_row, comps)
        cols = np.flatnonzero(col_mask)
        rows = np.flatnonzero(row_mask)
        res = linprog(
            cost[cols],
            A_eq=block[rows][:, cols],
            b_eq=b[rows],
            bounds=np.column_stack([lb[cols], ub[cols]]),
            method="highs",
        )
        if res.status != 0 or res.x is None:
            raise RuntimeError(f"disclosure audit LP failed: {res.message}")
        x = np.asarray(res.x)
        lo_seen[cols] = np.minimum(lo_seen[cols], x)
        hi_seen[cols] = np.maximum(hi_seen[cols], x)
        marg = np.asarray(res.eqlin.marginals) if res.eqlin is not None else np.zeros(rows.size)
        return cols, rows, x, marg

    # heuristic rounds: push every unresolved task down (or up) at once
    pending = tasks[~cleared(tasks)]
    for round_no in range(_PUSH_ROUNDS):
        if pending.size == 0:
            break
        cost = np.zeros(n_cols)
        sign = 1.0 if round_no % 2 == 0 else -1.0
        cost[pending] = sign * rng.uniform(0.5, 1.5, size=pending.size)
        solve(cost, np.unique(comp_of_col[pending]))
        still = pending[~cleared(pending)]
        progress = pending.size - still.size
        pending = still
        if round_no >= 1 and progress < max(1, 0.05 * (pending.size + progress)):
            break

    # exact rounds: one target (cell, sense) per component and LP
    while True:
        unknown = np.isnan(exact_lo[pending]) | np.isnan(exact_hi[pending])
        open_ = pending[~cleared(pending) & unknown]
        if open_.size == 0:
            break
        _, first = np.unique(comp_of_col[open_], return_index=True)
        targets = open_[first]
        want_min = np.isnan(exact_lo[targets]) & (
            ~np.isnan(exact_hi[targets])
            | (h[targets] - lo_seen[targets] <= hi_seen[targets] - h[targets])
        )
        cost = np.zeros(n_cols)
        cost[targets] = np.where(want_min, 1.0, -1.0)
        cols, rows, x, marg = solve(cost, comp_of_col[targets])
        value = np.empty(n_cols)
        value[cols] = x
        dual_full = np.zeros(n_rows)
        dual_full[rows] = marg
        for col, lower_side in zip(targets.tolist(), want_min.tolist(), strict=True):
            if lower_side:
                exact_lo[col] = value[col]
            else:
                exact_hi[col] = value[col]
            comp = comp_of_col[col]
            r0, r1 = int(row_start[comp]), int(row_start[comp + 1])
            d = duals.setdefault(col, {})
            for r in (r0 + np.flatnonzero(np.abs(dual_full[r0:r1]) > 1e-9)).tolist():
                d[r] = d.get(r, 0.0) + abs(float(dual_full[r]))
        pending = open_

    half = 0.5 * big
    out = []
    for col in tasks[~cleared(tasks)].tolist():
        lower, upper = float(exact_lo[col]), float(exact_hi[col])
        lower = -math.inf if lower <= -half else lower
        upper = math.inf if upper >= half else upper
        out.append((col, lower, upper, duals.get(col, {})))
    return out
