"""Secondary cell suppression by Gaussian elimination (nir.publication.suppression).

Tables are built by hand from cells defined as sets of inner-cell names; the results are checked
against exact hidden sets and against a brute-force rank check: after suppression (and after the
inner cells proven empty by visible zeros are dropped), no primary cell lies in the span of the
visible rows, and no singleton contributor can put one there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp

from nir.publication.suppression import SuppressionResult, candidate_order, gauss_suppress

# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Table:
    """Named cells over named inner cells."""

    cells: list[str]
    inner: list[str]
    x: sp.csr_matrix
    values: np.ndarray

    def mask(self, names: Iterable[str]) -> np.ndarray:
        wanted = set(names)
        unknown = wanted - set(self.cells)
        assert not unknown, unknown
        return np.array([c in wanted for c in self.cells])

    def names(self, mask: np.ndarray) -> set[str]:
        return {self.cells[i] for i in np.flatnonzero(mask)}


def make_table(
    cells: Mapping[str, Iterable[str] | Mapping[str, int]], inner_values: Mapping[str, int]
) -> Table:
    """x from cells given as sets of inner-cell names (coefficient 1) or {name: coefficient}."""
    inner = list(inner_values)
    col = {name: j for j, name in enumerate(inner)}
    dense = np.zeros((len(cells), len(inner)), dtype=np.int64)
    for i, members in enumerate(cells.values()):
        coefs = members if isinstance(members, Mapping) else dict.fromkeys(members, 1)
        for name, coef in coefs.items():
            dense[i, col[name]] = coef
    values = dense @ np.array([inner_values[n] for n in inner], dtype=np.int64)
    return Table(list(cells), inner, sp.csr_matrix(dense), values)


def known_zero_columns(x: np.ndarray, values: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Inner cells proven empty by visible zero cells (fixpoint; inner cells are >= 0).

    A visible 0 with all remaining coefficients positive, or with one remaining inner cell.
    """
    known = np.zeros(x.shape[1], dtype=bool)
    changed = True
    while changed:
        changed = False
        for i in np.flatnonzero(~hidden & (values == 0)):
            cols = np.flatnonzero((x[i] != 0) & ~known)
            if cols.size and ((x[i, cols] > 0).all() or cols.size == 1):
                known[cols] = True
                changed = True
    return known


def _rank(m: np.ndarray) -> int:
    return 0 if m.shape[0] == 0 else int(np.linalg.matrix_rank(m))


def in_span(v: np.ndarray, m: np.ndarray) -> bool:
    """Brute force: is v a linear combination of the rows of m?"""
    if not v.any():
        return True
    return _rank(np.vstack([m, v])) == _rank(m)


def outside_span(m: np.ndarray, vs: np.ndarray) -> np.ndarray:
    """For each row of vs: is it outside the row space of m? (SVD projection, brute force)"""
    vs = np.atleast_2d(vs)
    if m.shape[0] == 0:
        return np.abs(vs).sum(axis=1) > 0
    _, sv, vt = np.linalg.svd(m, full_matrices=False)
    basis = vt[sv > sv.max() * max(m.shape) * np.finfo(float).eps]
    residual = vs - (vs @ basis.T) @ basis
    return np.linalg.norm(residual, axis=1) > 1e-7


def attacker_view(x: sp.spmatrix, values: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Rows as the attacker sees them: known-zero inner cells dropped."""
    dense = np.asarray(sp.csr_matrix(x).toarray(), dtype=float)
    return dense[:, ~known_zero_columns(dense, values, hidden)]


def derivable(x: sp.spmatrix, values: np.ndarray, hidden: np.ndarray) -> set[int]:
    """Hidden cells whose row lies in the span of the visible rows (brute force)."""
    view = attacker_view(x, values, hidden)
    idx = np.flatnonzero(hidden)
    if idx.size == 0:
        return set()
    return {int(i) for i in idx[~outside_span(view[~hidden], view[idx])]}


def _parallel(a: np.ndarray, b: np.ndarray) -> bool:
    return _rank(np.vstack([a, b])) == 1


def singleton_reveals(
    x: sp.spmatrix,
    values: np.ndarray,
    primary: np.ndarray,
    hidden: np.ndarray,
    inner_values: np.ndarray | None = None,
) -> list[tuple[str, int, int]]:
    """(kind, singleton, primary) where one contributor's knowledge reveals another primary."""
    dense = np.asarray(sp.csr_matrix(x).toarray(), dtype=float)
    keep = ~known_zero_columns(dense, values, hidden)
    view = dense[:, keep]
    visible = view[~hidden]
    knowledge = [("cell", int(s), view[s]) for s in np.flatnonzero(primary & (values == 1))]
    if inner_values is not None:
        unit = np.eye(x.shape[1])[:, keep]
        knowledge += [("inner", int(j), unit[j]) for j in np.flatnonzero(inner_values == 1)]
    prims = np.flatnonzero(primary)
    out = []
    for kind, s, vec in knowledge:
        if not vec.any():
            continue
        revealed = ~outside_span(np.vstack([visible, vec]), view[prims])
        out += [
            (kind, s, int(p))
            for p, hit in zip(prims, revealed, strict=True)
            if hit and not _parallel(view[p], vec)  # not the singleton's own cell
        ]
    return out


def hierarchical_table(
    rng: np.random.Generator,
    kommuner_per_fylke: list[int],
    n_sex: int,
    n_age: int,
    mean: float,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Land -> fylke -> kommune x sex (+ total) x age (+ total), random counts."""
    nk = sum(kommuner_per_fylke)
    regions = [np.ones(nk)]
    start = 0
    for n in kommuner_per_fylke:
        row = np.zeros(nk)
        row[start : start + n] = 1
        regions.append(row)
        start += n
    regions += list(np.eye(nk))
    r = sp.csr_matrix(np.array(regions))
    s = sp.csr_matrix(np.vstack([np.ones(n_sex), np.eye(n_sex)]))
    a = sp.csr_matrix(np.vstack([np.ones(n_age), np.eye(n_age)]))
    x = sp.csr_matrix(sp.kron(sp.kron(r, s), a), dtype=np.int64)
    x.eliminate_zeros()
    size = np.repeat(rng.lognormal(np.log(mean), 1.0, nk), n_sex * n_age)
    inner = rng.poisson(size)
    return x, x @ inner


def reference_greedy(
    x: sp.spmatrix, values: np.ndarray, primary: np.ndarray
) -> tuple[np.ndarray, int]:
    """The sequential method written naively with brute-force span tests (small tables)."""
    dense = np.asarray(sp.csr_matrix(x).toarray(), dtype=float)
    view = dense[:, ~known_zero_columns(dense, values, primary)]
    prims = np.flatnonzero(primary)
    singletons = [view[p] for p in prims if values[p] == 1]
    own = np.array([[_parallel(view[p], s) for p in prims] for s in singletons], dtype=bool)
    published: list[int] = []
    secondary = np.zeros(len(values), dtype=bool)
    by_singleton = 0
    for c in candidate_order(x, values, primary):
        rows = view[[*published, c]]
        if not outside_span(rows, view[prims]).all():
            secondary[c] = True
            continue
        reveal = False
        for i, s in enumerate(singletons):
            if outside_span(rows, s)[0]:
                revealed = ~outside_span(np.vstack([rows, s]), view[prims])
                reveal |= bool((revealed & ~own[i]).any())
        if reveal:
            secondary[c] = True
            by_singleton += 1
            continue
        published.append(int(c))
    return secondary, by_singleton


def assert_protected(
    x: sp.spmatrix,
    values: np.ndarray,
    primary: np.ndarray,
    res: SuppressionResult,
    inner_values: np.ndarray | None = None,
) -> None:
    assert res.hidden.dtype == bool and res.secondary.dtype == bool
    assert np.array_equal(res.hidden, primary | res.secondary)
    assert not (res.secondary & primary).any()
    assert derivable(x, values, res.hidden) == set(), "a hidden cell is derivable"
    assert singleton_reveals(x, values, primary, res.hidden, inner_values) == []


AGE_TABLE = {
    "alle": {"K18", "K36", "M18", "M36"},
    "K": {"K18", "K36"},
    "M": {"M18", "M36"},
    "18-35": {"K18", "M18"},
    "36-45": {"K36", "M36"},
    "K/18-35": {"K18"},
    "K/36-45": {"K36"},
    "M/18-35": {"M18"},
    "M/36-45": {"M36"},
}


# --------------------------------------------------------------------------- behaviour


def test_2x2_table_hides_the_rectangle_of_inner_cells() -> None:
    t = make_table(AGE_TABLE, {"K18": 5, "K36": 4, "M18": 6, "M36": 1})
    primary = t.mask({"M/36-45"})
    res = gauss_suppress(t.x, t.values, primary)
    assert t.names(res.hidden) == {"M/36-45", "M/18-35", "K/18-35", "K/36-45"}
    assert res.singleton_extra == 0
    view = attacker_view(t.x, t.values, res.hidden)
    visible = view[~res.hidden]
    p = t.cells.index("M/36-45")
    assert np.linalg.matrix_rank(np.vstack([visible, view[p]])) > np.linalg.matrix_rank(visible)
    assert_protected(t.x, t.values, primary, res)


def test_no_primary_left_derivable_where_one_relation_at_a_time_fails() -> None:
    # K (kvinner) has alle = 4 with visible parts by age; M/36-45 = 1 is primary. A rule that
    # treats one relation at a time hides M/36-45, its sex total M (relation M = M/18-35 +
    # M/36-45) and its age total 36-45 (relation 36-45 = K/36-45 + M/36-45), but then M is
    # still alle - K, so M/36-45 = alle - K - M/18-35.
    t = make_table(AGE_TABLE, {"K18": 3, "K36": 1, "M18": 2, "M36": 1})
    primary = t.mask({"M/36-45"})
    old_rule = t.mask({"M/36-45", "M", "36-45"})
    assert t.cells.index("M/36-45") in derivable(t.x, t.values, old_rule)

    res = gauss_suppress(t.x, t.values, primary)
    assert_protected(t.x, t.values, primary, res)
    # Order alle, 18-35, K, K/18-35, M, M/18-35, 36-45, K/36-45: K/18-35 is the first cell
    # that would complete a relation revealing M/36-45.
    assert t.names(res.hidden) == {"M/36-45", "K/18-35", "M/18-35", "K/36-45"}
    assert t.names(res.secondary) == {"K/18-35", "M/18-35", "K/36-45"}


def test_zero_partner_is_not_chosen_the_total_is() -> None:
    # Rows r1 = a + b, r2 = c + d; a = 1 is primary, its only row sibling b is 0.
    cells = {
        "A": {"a"},
        "B": {"b"},
        "C": {"c"},
        "D": {"d"},
        "r1": {"a", "b"},
        "r2": {"c", "d"},
        "c1": {"a", "c"},
        "c2": {"b", "d"},
        "tot": {"a", "b", "c", "d"},
    }
    t = make_table(cells, {"a": 1, "b": 0, "c": 3, "d": 4})
    primary = t.mask({"A"})
    res = gauss_suppress(t.x, t.values, primary)
    hidden = t.names(res.hidden)
    assert "B" not in hidden  # the visible 0 protects nothing
    assert "r1" in hidden  # r1 = a once b is known to be empty
    assert hidden == {"A", "r1", "C", "r2"}
    assert_protected(t.x, t.values, primary, res)


def test_visible_zero_cannot_be_used_and_zero_cells_are_never_secondary() -> None:
    # Z = b + c = 0 proves b = c = 0 (counts are >= 0), so r1 = a + b is A itself: hidden.
    # Z is never a secondary cell (its row is empty once b and c are known).
    cells = {"A": {"a"}, "Z": {"b", "c"}, "r1": {"a", "b"}}
    t = make_table(cells, {"a": 2, "b": 0, "c": 0})
    primary = t.mask({"A"})
    res = gauss_suppress(t.x, t.values, primary)
    assert t.names(res.hidden) == {"A", "r1"}
    assert_protected(t.x, t.values, primary, res)
    # If b might be negative, Z = 0 only says b = -c: r1 and Z together do not reveal A.
    nonneg = np.array([True, False, True])
    res = gauss_suppress(t.x, t.values, primary, inner_nonneg=nonneg)
    assert t.names(res.hidden) == {"A"}
    # A visible 0 over a single inner cell proves it empty whatever its sign.
    t = make_table({"A": {"a"}, "B": {"b"}, "r1": {"a", "b"}}, {"a": 2, "b": 0})
    res = gauss_suppress(t.x, t.values, t.mask({"A"}), inner_nonneg=np.array([True, False]))
    assert t.names(res.hidden) == {"A", "r1"}


def test_kommune_equal_to_fylke_forces_the_fylke_cell_hidden() -> None:
    cells = {
        "land": {"k1", "k2", "k3"},
        "F1": {"k1"},  # a fylke with one kommune: the same row as K1
        "F2": {"k2", "k3"},
        "K1": {"k1"},
        "K2": {"k2"},
        "K3": {"k3"},
    }
    t = make_table(cells, {"k1": 2, "k2": 5, "k3": 7})
    primary = t.mask({"K1"})
    res = gauss_suppress(t.x, t.values, primary)
    assert "F1" in t.names(res.secondary)
    # land is kept (largest); F2 and K2 break land = F1 + F2 and F2 = K2 + K3.
    assert t.names(res.hidden) == {"K1", "F1", "F2", "K2"}
    assert_protected(t.x, t.values, primary, res)


def test_cross_table_twin_of_a_primary_is_hidden() -> None:
    # The same measure in two tables: T1 = M1 + K1 and T2 = M2 + K2 over the same inner cells.
    cells = {
        "T1": {"m", "k"},
        "M1": {"m"},
        "K1": {"k"},
        "T2": {"m", "k"},
        "M2": {"m"},
        "K2": {"k"},
    }
    t = make_table(cells, {"m": 1, "k": 5})
    primary = t.mask({"M1"})
    res = gauss_suppress(t.x, t.values, primary)
    assert t.names(res.hidden) == {"M1", "M2", "K1", "K2"}
    assert_protected(t.x, t.values, primary, res)


def test_two_singletons_whose_sum_is_derivable_get_an_extra_secondary() -> None:
    inner = {"s1": 1, "s2": 1, "a": 5, "b": 4, "c": 6, "d": 7}
    cells = {
        "S1": {"s1"},
        "S2": {"s2"},
        "A": {"a"},
        "B": {"b"},
        "C": {"c"},
        "D": {"d"},
        "R1": {"s1", "s2", "a"},
        "R2": {"b", "c", "d"},
        "C1": {"s1", "b"},
        "C2": {"s2", "c"},
        "C3": {"a", "d"},
        "G": set(inner),
    }
    t = make_table(cells, inner)
    primary = t.mask({"S1", "S2"})
    res = gauss_suppress(t.x, t.values, primary)

    # The plain pass alone would hide S1, S2, B and C, leaving S1 + S2 = R1 - A visible.
    plain = t.mask({"S1", "S2", "B", "C"})
    assert derivable(t.x, t.values, plain) == set()
    assert singleton_reveals(t.x, t.values, primary, plain)

    assert res.singleton_extra >= 1
    assert t.names(res.hidden) == {"S1", "S2", "A", "B", "C", "D"}
    assert res.singleton_extra == 2  # A and D (D would give a = C3 - D)
    view = attacker_view(t.x, t.values, res.hidden)
    visible = view[~res.hidden]
    s1, s2 = t.cells.index("S1"), t.cells.index("S2")
    assert not in_span(view[s2], np.vstack([visible, view[s1]]))
    assert not in_span(view[s1], np.vstack([visible, view[s2]]))
    assert_protected(t.x, t.values, primary, res)


def test_inner_singleton_contributor_is_protected_when_inner_values_are_known() -> None:
    # P = u + w = 3 is primary; W = w = 2 is visible. u has one contributor (inner value 1),
    # who knows u and would compute P = u + W.
    t = make_table({"P": {"u", "w"}, "W": {"w"}}, {"u": 1, "w": 2})
    primary = t.mask({"P"})
    plain = gauss_suppress(t.x, t.values, primary)
    assert t.names(plain.hidden) == {"P"}
    inner_values = np.array([1.0, 2.0])
    res = gauss_suppress(t.x, t.values, primary, inner_values=inner_values)
    assert t.names(res.hidden) == {"P", "W"}
    assert res.singleton_extra == 1
    assert_protected(t.x, t.values, primary, res, inner_values)
    unknown = gauss_suppress(t.x, t.values, primary, inner_values=np.array([np.nan, np.nan]))
    assert t.names(unknown.hidden) == {"P"}


def test_same_input_gives_same_result_and_row_permutation_maps_back() -> None:
    rng = np.random.default_rng(7)
    x, values = hierarchical_table(rng, [3, 2, 4], 2, 3, mean=3.0)
    primary = (values > 0) & (values < 3)
    first = gauss_suppress(x, values, primary)
    again = gauss_suppress(x, values, primary)
    assert np.array_equal(first.hidden, again.hidden)
    assert first.candidates_tried == again.candidates_tried
    assert first.singleton_extra == again.singleton_extra

    perm = rng.permutation(x.shape[0])
    shuffled = gauss_suppress(x[perm], values[perm], primary[perm])
    assert np.array_equal(shuffled.hidden, first.hidden[perm])
    assert shuffled.singleton_extra == first.singleton_extra
    assert first.secondary.any()


@pytest.mark.parametrize("seed", range(12))
def test_random_hierarchical_tables_protect_every_primary(seed: int) -> None:
    rng = np.random.default_rng(seed)
    kpf = rng.integers(1, 4, size=int(rng.integers(1, 4))).tolist()
    x, values = hierarchical_table(
        rng, kpf, int(rng.integers(1, 3)), int(rng.integers(2, 4)), mean=rng.uniform(0.5, 6)
    )
    primary = (values > 0) & (values < 3)
    res = gauss_suppress(x, values, primary)
    assert res.hidden[primary].all()  # no primary visible
    # rank([x_V; x_p]) > rank(x_V) for every primary, after zero removal
    view = attacker_view(x, values, res.hidden)
    visible = view[~res.hidden]
    base = _rank(visible)
    for p in np.flatnonzero(primary):
        assert _rank(np.vstack([visible, view[p]])) > base
    assert_protected(x, values, primary, res)
    # and the result is exactly the sequential method written naively
    secondary, by_singleton = reference_greedy(x, values, primary)
    assert np.array_equal(res.secondary, secondary)
    assert res.singleton_extra == by_singleton


@pytest.mark.parametrize("seed", range(6))
def test_random_integer_coefficients_match_the_naive_method(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n_cells, n_inner = 14, 7
    dense = np.zeros((n_cells, n_inner), dtype=np.int64)
    for i in range(n_cells):
        cols = rng.choice(n_inner, int(rng.integers(1, n_inner + 1)), replace=False)
        dense[i, cols] = rng.choice([-2, -1, 1, 1, 1, 2, 3], cols.size)
    x = sp.csr_matrix(dense)
    values = np.abs(dense @ rng.poisson(2, n_inner))
    primary = rng.random(n_cells) < 0.3
    primary[0] = True
    try:
        res = gauss_suppress(x, values, primary)
    except ValueError:
        pytest.skip("a primary cell is derivable from visible zeros in this draw")
    secondary, by_singleton = reference_greedy(x, values, primary)
    assert np.array_equal(res.secondary, secondary)
    assert res.singleton_extra == by_singleton
    assert_protected(x, values, primary, res)


def _exact_span_checker(rows: list[dict[int, int]]) -> Callable[[dict[int, int]], bool]:
    """An exact (Fraction) echelon basis of the rows, built sparse-first: in_span(v) -> bool."""
    pivots: dict[int, dict[int, Fraction]] = {}

    def reduce(v: dict[int, Fraction]) -> dict[int, Fraction]:
        v = dict(v)
        while True:
            hit = [k for k in v if k in pivots]
            if not hit:
                return v
            k = min(hit)
            f = v[k]
            for j, rj in pivots[k].items():
                nv = v.get(j, 0) - f * rj
                if nv:
                    v[j] = nv
                else:
                    v.pop(j, None)

    for row in sorted(rows, key=len):
        r = reduce({k: Fraction(c) for k, c in row.items()})
        if r:
            q = min(r)
            r = {k: c / r[q] for k, c in r.items()}
            for other in pivots.values():  # keep the basis fully reduced
                if q in other:
                    f = other[q]
                    for j, rj in r.items():
                        nv = other.get(j, 0) - f * rj
                        if nv:
                            other[j] = nv
                        else:
                            other.pop(j, None)
            pivots[q] = r

    def in_span_(v: dict[int, int]) -> bool:
        return not reduce({k: Fraction(c) for k, c in v.items()})

    return in_span_


def test_moderate_table_300_regions_x_18_cells() -> None:
    rng = np.random.default_rng(2024)
    kpf = rng.multinomial(288 - 11, np.ones(11) / 11) + 1  # 1 land + 11 fylker + 288 kommuner
    x, values = hierarchical_table(rng, kpf.tolist(), 2, 5, mean=4.0)
    assert x.shape == (300 * 18, 288 * 10)
    primary = (values > 0) & (values < 3)
    res = gauss_suppress(x, values, primary)
    assert primary.sum() > 100 and res.secondary.sum() > 0
    assert not (res.secondary & primary).any()

    # All coefficients are 1: the visible zero cells' inner cells are the known zeros.
    zero_cells = np.flatnonzero(~res.hidden & (values == 0))
    known = np.zeros(x.shape[1], dtype=bool)
    known[x[zero_cells].indices] = True
    xv = sp.csr_matrix(x[:, ~known])
    rows = [
        dict.fromkeys(xv.indices[xv.indptr[i] : xv.indptr[i + 1]].tolist(), 1)
        for i in range(xv.shape[0])
    ]
    visible = np.flatnonzero(~res.hidden)
    in_visible_span = _exact_span_checker([rows[i] for i in visible])
    # Positive control: a sum of visible cells is derivable.
    a, b = rows[visible[0]], rows[visible[-1]]
    assert in_visible_span({k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()})
    sample = np.concatenate(
        [
            rng.choice(np.flatnonzero(primary), size=30, replace=False),
            rng.choice(np.flatnonzero(res.secondary), size=10, replace=False),
        ]
    )
    for i in sample:
        assert not in_visible_span(rows[i]), f"hidden cell {i} is derivable"


# --------------------------------------------------------------------------- interface


def test_candidate_order_zeros_first_then_decreasing_value_then_detail() -> None:
    cells = {
        "tot": {"a", "b"},  # 5, two inner cells
        "A": {"a"},  # 5, one inner cell: before tot
        "B": {"b"},  # 0: first
        "Z": {"z"},  # 9: largest value
        "P": {"p"},  # primary: not a candidate
    }
    t = make_table(cells, {"a": 5, "b": 0, "z": 9, "p": 1})
    order = candidate_order(t.x, t.values, t.mask({"P"}))
    assert [t.cells[i] for i in order] == ["B", "Z", "A", "tot"]


def _order_by_python_sort(x: sp.csr_matrix, values: np.ndarray, primary: np.ndarray) -> list:
    """The candidate order as documented, by Python's sort on one key tuple per cell."""
    m = sp.csr_matrix(x)
    m.eliminate_zeros()
    m.sort_indices()

    def key(i: int) -> tuple:
        a, b = m.indptr[i], m.indptr[i + 1]
        v = float(values[i])
        return (v != 0, -v, b - a, m.indices[a:b].tolist(), m.data[a:b].tolist(), i)

    return sorted(np.flatnonzero(~primary).tolist(), key=key)


@pytest.mark.parametrize("seed", range(12))
def test_candidate_order_is_the_documented_sort_on_many_ties(seed: int) -> None:
    """The vectorised order equals the key-tuple sort, on cells that tie on value and length
    and differ only late in their rows, or only in their coefficients, or not at all (short
    rows are ranked by a column sort, long ones by Python's sort: both are here)."""
    rng = np.random.default_rng(seed)
    n_cells, n_inner = 400, 60
    rows, data = [], []
    for _ in range(n_cells):
        k = int(rng.choice([0, 1, 2, 3, 3, 3, 8, 25, 40, 40]))  # both ways of ranking rows
        cols = np.sort(rng.choice(n_inner, size=k, replace=False))
        if rng.random() < 0.5:
            cols = np.sort(rng.choice(np.arange(4), size=min(k, 4), replace=False))
        coef = rng.choice([1, 1, 1, -1, 2], size=cols.size)
        rows.append(cols)
        data.append(coef)
    dup = rng.integers(0, n_cells, size=40)  # exact duplicates of other cells' rows
    for a, b in zip(dup[:20], dup[20:], strict=True):
        rows[a], data[a] = rows[b], data[b]
    same = rng.integers(0, n_cells, size=80)  # the same inner cells, a coefficient changed
    for a, b in zip(same[:40], same[40:], strict=True):
        rows[a], data[a] = rows[b], data[b].copy()
        if data[a].size:
            data[a][-1] += 2 if data[a][-1] == -1 else 1
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])])
    x = sp.csr_matrix(
        (np.concatenate(data).astype(float), np.concatenate(rows), indptr), shape=(n_cells, n_inner)
    )
    values = rng.choice([0.0, 1.0, 2.0, 3.0, 7.0, 12.5], size=n_cells)
    primary = rng.random(n_cells) < 0.1
    expected = _order_by_python_sort(x, values, primary)
    assert candidate_order(x, values, primary).tolist() == expected


def test_explicit_order_and_forced_cells() -> None:
    t = make_table(AGE_TABLE, {"K18": 5, "K36": 4, "M18": 6, "M36": 1})
    primary = t.mask({"M/36-45"})
    # Keep the inner cells visible: the margins must go instead.
    names = ["K/18-35", "K/36-45", "M/18-35", "alle", "K", "M", "18-35", "36-45"]
    order = np.array([t.cells.index(n) for n in names])
    res = gauss_suppress(t.x, t.values, primary, order=order)
    assert t.names(res.hidden) == {"M/36-45", "M", "36-45", "alle"}
    assert_protected(t.x, t.values, primary, res)

    forced = t.mask({"M/18-35"})
    res = gauss_suppress(t.x, t.values, primary, forced=forced)
    assert not res.hidden[forced].any()
    # M/18-35 is published first: then K (alle - K - M/18-35 = M/36-45), M and K/36-45 go.
    assert t.names(res.hidden) == {"M/36-45", "K", "M", "K/36-45"}
    assert_protected(t.x, t.values, primary, res)


def test_forced_cells_that_reveal_a_primary_are_an_error() -> None:
    t = make_table({"A": {"a"}, "T": {"a"}}, {"a": 1})
    with pytest.raises(ValueError, match="forced"):
        gauss_suppress(t.x, t.values, t.mask({"A"}), forced=t.mask({"T"}))
    with pytest.raises(ValueError, match="both primary and forced"):
        gauss_suppress(t.x, t.values, t.mask({"A"}), forced=t.mask({"A"}))


def test_primary_derivable_from_visible_zeros_is_an_error() -> None:
    t = make_table({"A": {"a"}, "B": {"a", "b"}}, {"a": 0, "b": 0})
    with pytest.raises(ValueError, match="zero"):
        gauss_suppress(t.x, t.values, t.mask({"A"}))


def test_negative_coefficients_and_non_integer_input() -> None:
    # D = T - A (a published difference) is a row with a -1.
    t = make_table(
        {"T": {"a", "b"}, "A": {"a"}, "B": {"b"}, "D": {"a": -1, "b": 1}},
        {"a": 1, "b": 6},
    )
    primary = t.mask({"A"})
    res = gauss_suppress(t.x, t.values, primary)
    assert_protected(t.x, t.values, primary, res)
    assert t.names(res.hidden) == {"A", "B", "D"}
    with pytest.raises(ValueError, match="integer"):
        gauss_suppress(t.x * 0.5, t.values, primary)


def test_no_primary_means_nothing_hidden_and_result_shape() -> None:
    t = make_table(AGE_TABLE, {"K18": 5, "K36": 4, "M18": 6, "M36": 1})
    res = gauss_suppress(t.x, t.values, np.zeros(len(t.cells), dtype=bool))
    assert isinstance(res, SuppressionResult)
    assert res.secondary.shape == res.hidden.shape == (len(t.cells),)
    assert not res.hidden.any() and res.candidates_tried == 0 and res.singleton_extra == 0


def _two_tables(seed: int):
    """Two hierarchical tables and the model of both side by side (two components), with
    the cells of 1 and 2 primary."""
    rng = np.random.default_rng(seed)
    x1, v1 = hierarchical_table(rng, [2, 3], 2, 3, mean=2.0)
    x2, v2 = hierarchical_table(rng, [3, 1], 2, 2, mean=2.5)
    values = np.concatenate([v1, v2])
    both = sp.block_diag([x1, x2], format="csr"), values, (values > 0) & (values < 3)
    return (x1, v1), (x2, v2), both


@pytest.mark.parametrize("seed", range(6))
def test_cached_components_give_the_same_result_and_are_not_solved_again(seed, tmp_path) -> None:
    """Two tables side by side (two components); the second run of the same figures reads
    both from the cache; changing one table's figures solves that component only."""
    from nir.publication.suppression import ComponentCache

    (x1, v1), (x2, v2), (x, values, primary) = _two_tables(200 + seed)
    plain = gauss_suppress(x, values, primary)

    cache = ComponentCache(tmp_path / "cache")
    first = gauss_suppress(x, values, primary, cache=cache)
    assert np.array_equal(first.hidden, plain.hidden)  # renumbering changes nothing
    solved = cache.misses
    again = gauss_suppress(x, values, primary, cache=cache)
    assert np.array_equal(again.hidden, plain.hidden)
    assert again.singleton_extra == plain.singleton_extra
    assert cache.misses == solved and cache.hits == solved  # every component from the cache

    # the same first table, shifted behind the second: still the same key
    swapped = sp.block_diag([x2, x1], format="csr")
    vals_sw = np.concatenate([v2, v1])
    prim_sw = (vals_sw > 0) & (vals_sw < 3)
    res_sw = gauss_suppress(swapped, vals_sw, prim_sw, cache=cache)
    assert cache.misses == solved
    assert np.array_equal(
        res_sw.hidden, np.concatenate([plain.hidden[len(v1) :], plain.hidden[: len(v1)]])
    )

    # another primary cell in the second table: that component is solved, the first is read
    # (a component's outcome depends on its rows, order and flags, not on other values)
    prim_b = primary.copy()
    prim_b[len(v1) + int(np.flatnonzero(~primary[len(v1) :] & (v2 > 0))[-1])] = True
    hits, misses = cache.hits, cache.misses
    res_b = gauss_suppress(x, values, prim_b, cache=cache)
    assert (cache.hits, cache.misses) == (hits + primary[: len(v1)].any(), misses + 1)
    assert np.array_equal(res_b.hidden, gauss_suppress(x, values, prim_b).hidden)


def test_the_cache_keeps_one_runs_components_in_one_file(tmp_path) -> None:
    """Saved, a cache serves the next run; it keeps only the components a run used, and an
    unreadable file is an empty cache, not an error."""
    from nir.publication.suppression import ComponentCache

    (x1, v1), _, (both, values, primary) = _two_tables(7)
    plain = gauss_suppress(both, values, primary)
    path = tmp_path / "cache" / "suppression.json"

    first = ComponentCache(path)
    gauss_suppress(both, values, primary, cache=first)
    first.save()
    second = ComponentCache(path)
    again = gauss_suppress(both, values, primary, cache=second)
    assert np.array_equal(again.hidden, plain.hidden)
    assert second.misses == 0 and second.hits == first.misses > 0

    # a run over the first table alone keeps only its component
    p1 = (v1 > 0) & (v1 < 3)
    third = ComponentCache(path)
    gauss_suppress(x1, v1, p1, cache=third)
    third.save()
    kept = json.loads(path.read_text("utf-8"))["outcomes"]
    assert len(kept) == third.hits + third.misses < first.misses

    path.write_text("{not json", "utf-8")
    broken = ComponentCache(path)
    assert np.array_equal(gauss_suppress(both, values, primary, cache=broken).hidden, plain.hidden)
    assert broken.hits == 0
