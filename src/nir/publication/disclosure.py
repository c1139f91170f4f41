"""Disclosure control over everything published together: one model, one suppression step.

Every published cell (a measure of a row of a published table) is expressed as a sum of inner
cells, the finest cross-classification of its population, built from the tables'
declarations (``nir.catalog``, the dbt models' ``meta.publisert``):

- a *population* (``maal.populasjon``) is what a measure counts; cells of one population in
  different tables (``avsluttede`` in deltakelse_aar and resultater_aar) are sums over the same
  inner cells, so the relation between the tables is part of the model;
- its inner cells cross the population's partition (the grain columns that never add up:
  aar, periode, tiltakskode, kontroll), a region node, every breakdown any of its tables has
  (kjonn, aldersgruppe, landbakgrunn_gruppe) and the outcome (``utfall``) a measure counts;
- region nodes: every kommune; for the country a residual node (skjermet persons and the
  unknown kommune count there only); for a fylke a residual node only where a person can
  count in several kommuner (``regioner: overlapp``) and the fylke's figures differ from the sum
  of its kommuner (a fylke with one kommune, Oslo, is then exactly that kommune);
- ``revisjoner`` repeats a published cell (``endelig_verdi``) and adds the first preliminary
  value (its own population, from an older snapshot) and their difference.

Primary cells are counts from 1 to ``suppression_threshold - 1`` (and a measure declared
``skjules_med`` a count with it). Secondary suppression is SSB's Gaussian elimination
(:mod:`nir.publication.suppression`). Afterwards a measure declared ``skjules_med`` is hidden
wherever its count is, and a share only where its counts are shown and its denominator is at
least ``min_share_denominator``: hiding more never makes a hidden cell derivable.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from nir.catalog import PublishedTable

if TYPE_CHECKING:
    from nir.publication.suppression import ComponentCache

TOTAL_REGION = "0000"
REST = "_rest"
VIRTUAL = "_virtual"  # a rest the attacker computes (not published), known to be 0


@dataclass
class Cell:
    table: str
    row: int  # position in the table's frame
    column: str
    value: float
    primary: bool


@dataclass
class Model:
    """Published cells as rows of ``x`` over inner cells."""

    cells: list[Cell]
    x: sparse.csr_matrix
    inner_nonneg: np.ndarray

    @property
    def values(self) -> np.ndarray:
        return np.array([c.value for c in self.cells], dtype=float)

    @property
    def primary(self) -> np.ndarray:
        return np.array([c.primary for c in self.cells], dtype=bool)


def _text(series: pd.Series) -> list[str]:
    """The values as text, read through NumPy (iterating an Arrow-backed column is slow)."""
    return [str(v) for v in series.to_numpy(dtype=object).tolist()]


def _fylke(region: str) -> str:
    return region[:2]


class _Grid:
    """The inner cells of one population and partition: region node x breakdown combination.

    Region nodes: the kommuner with a row, a rest node per fylke where the data need one
    (``regioner: overlapp``), and the country's rest. A fylke's rest exists only for the
    combinations where the fylke's figure differs from the sum of its kommuner.
    """

    def __init__(
        self,
        start: int,
        kommuner_by_fylke: dict[str, list[str]],
        combos: list[tuple],
        rest_of: dict[str, set[tuple]],
        land_nonneg: bool,
    ) -> None:
        nodes = [("k", k) for f, ks in kommuner_by_fylke.items() for k in ks]
        nodes += [("f", f) for f in kommuner_by_fylke if rest_of.get(f)]
        nodes.append(("l", ""))
        self.nodes = nodes
        self.combos = combos
        self.node_ix = {n: i for i, n in enumerate(nodes)}
        self.combo_ix = {c: i for i, c in enumerate(combos)}
        self.ids = np.arange(start, start + len(nodes) * len(combos)).reshape(
            len(nodes), len(combos)
        )
        # which inner cells exist: a fylke's rest only where it is needed
        self.exists = np.ones(self.ids.shape, dtype=bool)
        for f, rest in rest_of.items():
            r = self.node_ix.get(("f", f))
            if r is not None:
                self.exists[r] = [c in rest for c in combos]
        self.nonneg = np.ones(self.ids.shape, dtype=bool)
        for n, r in self.node_ix.items():
            if n[0] == "f" or (n[0] == "l" and not land_nonneg):
                self.nonneg[r] = False
        self.fylke_rows = {
            f: np.array(
                [self.node_ix[("k", k)] for k in ks]
                + ([self.node_ix[("f", f)]] if ("f", f) in self.node_ix else []),
                dtype=np.int64,
            )
            for f, ks in kommuner_by_fylke.items()
        }
        self.all_rows = np.arange(len(nodes))
        self._cols: dict[tuple, np.ndarray] = {}

    @property
    def size(self) -> int:
        return self.ids.size

    def rows(self, nivaa: str, region: str) -> np.ndarray:
        if nivaa == "kommune":
            r = self.node_ix.get(("k", region))
            return np.array([] if r is None else [r], dtype=np.int64)
        if nivaa == "fylke":
            return self.fylke_rows.get(region, np.empty(0, dtype=np.int64))
        if nivaa == "_rest":  # the country's rest alone (skjermet persons, kommune 9999)
            return np.array([self.node_ix[("l", "")]], dtype=np.int64)
        return self.all_rows

    def cols(self, wanted: tuple[tuple[str, ...], ...]) -> np.ndarray:
        if wanted not in self._cols:
            self._cols[wanted] = np.array(
                [self.combo_ix[c] for c in itertools.product(*wanted) if c in self.combo_ix],
                dtype=np.int64,
            )
        return self._cols[wanted]

    def support(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if not len(rows) or not len(cols):
            return np.empty(0, dtype=np.int64)
        if len(rows) == 1:
            r = rows[0]
            return self.ids[r, cols][self.exists[r, cols]]
        sel = (rows[:, None], cols)
        return self.ids[sel][self.exists[sel]]


@dataclass
class _Population:
    name: str
    members: list[tuple[str, str]]  # (table, measure)
    dims: list[str]
    domains: dict[str, list[str]]
    utfall: list[str] | None
    overlapp: bool


def _populations(
    frames: dict[str, pd.DataFrame], catalog: dict[str, PublishedTable]
) -> dict[str, _Population]:
    pops: dict[str, _Population] = {}
    for t in catalog.values():
        for m in t.maal.values():
            p = pops.setdefault(
                m.populasjon or f"{t.name}.{m.name}",
                _Population(m.populasjon or "", [], [], {}, None, m.regioner == "overlapp"),
            )
            p.members.append((t.name, m.name))
            for d in t.dimensjoner:
                if d not in p.dims:
                    p.dims.append(d)
    for name, p in pops.items():
        p.name = name
        for d in p.dims:
            codes: set[str] = set()
            for tname, _ in p.members:
                t = catalog[tname]
                if d in t.dimensjoner and tname in frames:
                    codes |= set(_text(frames[tname][d])) - {t.dimensjoner[d]}
            p.domains[d] = sorted(codes)
        declared = [catalog[tn].maal[mn].utfall for tn, mn in p.members]
        if any(u for u in declared):
            outs = sorted({o for u in declared if u for o in u})
            p.utfall = [*outs, REST] if any(u is None for u in declared) else outs
    return pops


def _kommuner_by_fylke(frames: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    kommuner: set[str] = set()
    for f in frames.values():
        if "nivaa" in f.columns:
            kommuner |= set(f.loc[f["nivaa"] == "kommune", "region"].astype(str))
    out: dict[str, list[str]] = {}
    for k in sorted(kommuner):
        out.setdefault(_fylke(k), []).append(k)
    return out


def _overlap_residuals(
    frames: dict[str, pd.DataFrame], catalog: dict[str, PublishedTable], pop: _Population
) -> set[tuple]:
    """(partition values, fylke, breakdown values) of the finest cells where a fylke's figure
    differs from the sum of its kommuner: only there can a person count in several of them."""
    out: set[tuple] = set()
    for tname, mname in pop.members:
        if tname not in frames:
            continue
        t, f = catalog[tname], frames[tname]
        finest = np.ones(len(f), dtype=bool)
        for d, total in t.dimensjoner.items():
            finest &= f[d].astype(str).to_numpy() != total
        f = f[finest]
        others = [c for c in t.rad if c not in ("nivaa", "region")]
        k = f[f["nivaa"] == "kommune"].assign(_f=lambda d: d["region"].str[:2])
        ksum = k.groupby([*others, "_f"], dropna=False)[mname].sum().rename("_sum")
        fy = f[f["nivaa"] == "fylke"].set_index([*others, "region"])[mname]
        fy.index = fy.index.set_names([*others, "_f"])
        diff = fy.to_frame().join(ksum, how="left").fillna({"_sum": 0})
        bad = diff[(diff[mname].astype(float) - diff["_sum"].astype(float)).abs() > 1e-9]
        for idx in bad.index:
            key = dict(zip([*others, "_f"], idx if isinstance(idx, tuple) else (idx,), strict=True))
            out.add(
                (
                    tuple(str(key[c]) for c in t.partitions),
                    key["_f"],
                    tuple(str(key[d]) for d in pop.dims),
                )
            )
    return out


def _present(
    frames: dict[str, pd.DataFrame], catalog: dict[str, PublishedTable], pops: dict
) -> dict[tuple, set[str]]:
    """(population, partition values) -> the kommuner with a published row there. A kommune
    without a row has nothing to count (the tables list every region with a figure), so its
    inner cells are known to be empty."""
    out: dict[tuple, set[str]] = {}
    for name, pop in pops.items():
        for tname, _ in pop.members:
            if tname not in frames:
                continue
            t, f = catalog[tname], frames[tname]
            k = f[f["nivaa"] == "kommune"]
            parts = list(zip(*(_text(k[c]) for c in t.partitions), strict=True)) or [
                () for _ in range(len(k))
            ]
            for pk, region in zip(parts, _text(k["region"]), strict=True):
                out.setdefault((name, tuple(pk)), set()).add(region)
    return out


def build_model(
    frames: dict[str, pd.DataFrame], catalog: dict[str, PublishedTable], threshold: int
) -> Model:
    """The model matrix of every published cell (see the module docstring)."""
    pops = _populations(frames, catalog)
    by_fylke = _kommuner_by_fylke(frames)
    fylker = sorted(by_fylke)
    residuals = {  # read only for populations counted in several kommuner
        name: _overlap_residuals(frames, catalog, p) for name, p in pops.items() if p.overlapp
    }
    present = _present(frames, catalog, pops)
    grids: dict[tuple, _Grid] = {}
    n_inner = 0
    cells: list[Cell] = []
    rows: list[np.ndarray] = []
    coefs: list[tuple[int, np.ndarray]] = []  # (cell, its coefficients) where not all 1

    def grid(pop: _Population, parts: tuple) -> _Grid:
        nonlocal n_inner
        key = (pop.name, parts)
        if key not in grids:
            resid = residuals.get(pop.name, set()) if pop.overlapp else set()
            here = present.get(key, set())
            space = [pop.domains[d] for d in pop.dims] + ([pop.utfall] if pop.utfall else [])
            combos = list(itertools.product(*space))
            rest_of: dict[str, set[tuple]] = {}
            for rparts, f, c in resid:
                if rparts == parts:
                    rest_of.setdefault(f, set()).add(c)
            kommuner = {f: [k for k in by_fylke[f] if k in here] for f in fylker}
            grids[key] = _Grid(n_inner, kommuner, combos, rest_of, not pop.overlapp)
            n_inner += grids[key].size
        return grids[key]

    def support(pop: _Population, parts: tuple, nivaa: str, region: str, dims: dict) -> np.ndarray:
        g = grid(pop, parts)
        wanted = [tuple(pop.domains[d]) if dims.get(d) is None else (dims[d],) for d in pop.dims]
        if pop.utfall:
            wanted.append(tuple(dims.get("_utfall") or pop.utfall))
        return g.support(g.rows(nivaa, region), g.cols(tuple(wanted)))

    def cell_support(
        t: PublishedTable, rec: dict, mname: str, nivaa: str | None = None, utfall=None
    ) -> np.ndarray:
        m = t.maal[mname]
        pop = pops[m.populasjon or f"{t.name}.{mname}"]
        parts = tuple(str(rec[c]) for c in partitions[t.name])
        dims = {}
        for d in pop.dims:
            if d in t.dimensjoner:
                v = str(rec[d])
                dims[d] = None if v == t.dimensjoner[d] else v
            else:
                dims[d] = None
        if pop.utfall:
            dims["_utfall"] = utfall or (list(m.utfall) if m.utfall else None)
        return support(pop, parts, nivaa or rec["nivaa"], str(rec["region"]), dims)

    def add(table: str, i: int, col: str, value: float, primary: bool, sup, coef=None) -> None:
        """A published cell; ``coef`` None: every coefficient is 1."""
        if coef is not None:
            coefs.append((len(cells), coef))
        cells.append(Cell(table, i, col, value, primary))
        rows.append(sup)

    partitions = {name: t.partitions for name, t in catalog.items()}

    def column_supports(
        t: PublishedTable, texts: dict[str, list[str]], parts: list[tuple], mname: str
    ) -> list:
        """``cell_support`` of measure ``mname`` for every row of ``t`` (``parts``: each row's
        partition values), with what is the same for every row (population, breakdown
        domains, outcomes) looked up once, and the kommune rows that ask the same grid for
        the same columns read from it together."""
        m = t.maal[mname]
        pop = pops[m.populasjon or f"{t.name}.{mname}"]
        dims = [
            (tuple(pop.domains[d]), texts.get(d) if d in t.dimensjoner else None,
             t.dimensjoner.get(d))
            for d in pop.dims
        ]  # fmt: skip
        outs = ((tuple(m.utfall) if m.utfall else tuple(pop.utfall)),) if pop.utfall else ()
        nivaa, region = texts["nivaa"], texts["region"]
        out: list = [None] * len(parts)
        kommune_rows: dict[tuple, list[int]] = {}
        for i in range(len(parts)):
            wanted = (
                tuple(dom if vals is None or vals[i] == total else (vals[i],)
                      for dom, vals, total in dims)
                + outs
            )  # fmt: skip
            if nivaa[i] == "kommune":
                kommune_rows.setdefault((parts[i], wanted), []).append(i)
            else:
                g = grid(pop, parts[i])
                out[i] = g.support(g.rows(nivaa[i], region[i]), g.cols(wanted))
        empty = np.empty(0, dtype=np.int64)
        for (p, wanted), rows in kommune_rows.items():
            g = grid(pop, p)
            r = np.array([g.node_ix.get(("k", region[i]), -1) for i in rows], dtype=np.int64)
            known = r >= 0  # a kommune without a node in the grid has no inner cells
            sel = (r[known][:, None], g.cols(wanted))
            exists = g.exists[sel]
            flat = g.ids[sel][exists]
            bounds = [0, *np.cumsum(exists.sum(axis=1)).tolist()]  # of each known row
            k = 0
            for i, ok in zip(rows, known.tolist(), strict=True):
                if ok:
                    out[i] = flat[bounds[k] : bounds[k + 1]]
                    k += 1
                else:
                    out[i] = empty
        return out

    for t in catalog.values():
        if t.name not in frames or t.revisjon:
            continue
        frame = frames[t.name]
        texts = {
            c: _text(frame[c])
            for c in dict.fromkeys([*t.rad, *t.dimensjoner, *partitions[t.name], "nivaa", "region"])
        }
        names = list(t.maal)
        # inner cells are numbered as their grids are first met, row by row: keep that order
        pop_of = [pops[t.maal[m].populasjon or f"{t.name}.{m}"] for m in names]
        rows_parts = list(zip(*(texts[c] for c in partitions[t.name]), strict=True))
        rows_parts = rows_parts or [()] * len(frame)
        for parts in dict.fromkeys(rows_parts):  # first met, in row order
            for pop in pop_of:
                grid(pop, parts)
        values, primary, supports = [], [], []
        for mname, m in t.maal.items():
            v = frame[mname].astype(float).to_numpy()
            values.append(np.where(np.isnan(v), 0.0, v).tolist())
            cv = frame[m.skjules_med or mname].astype(float).to_numpy()
            primary.append(((cv >= 1) & (cv < threshold)).tolist())
            supports.append(column_supports(t, texts, rows_parts, mname))
        per_row = range(len(frame))
        per_measure = list(enumerate(names))
        cells.extend(
            Cell(t.name, i, mname, values[j][i], primary[j][i])
            for i in per_row
            for j, mname in per_measure
        )
        rows.extend(supports[j][i] for i in per_row for j, _ in per_measure)

    # Rests the attacker can compute and knows to be non-negative: where one is 0, every inner
    # cell under it is known to be empty. Added as visible (forced) zero cells, so the
    # suppression's zero rule removes those inner cells, as the attacker would.
    for t in catalog.values():
        if t.name not in frames or t.revisjon:
            continue
        for rec, mname, nivaa, utfall in _zero_rests(t, frames[t.name], pops):
            sup = cell_support(t, rec, mname, nivaa=nivaa, utfall=utfall)
            if len(sup):
                add(VIRTUAL, -1, mname, 0.0, False, sup)

    for t in catalog.values():
        if t.name not in frames or not t.revisjon:
            continue
        residuals |= _revision_residuals(frames[t.name], t)
        for r in frames[t.name][frames[t.name]["nivaa"] == "kommune"].itertuples():
            present.setdefault((f"revisjon:{r.maal}", (str(r.aar),)), set()).add(str(r.region))
        _add_revisions(t, frames, catalog, pops, cell_support, support, add, threshold)

    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    data = np.ones(len(indices))  # every coefficient 1 but those given (revisjoner.endring)
    for i, c in coefs:
        data[indptr[i] : indptr[i + 1]] = c
    x = sparse.csr_matrix((data, indices, indptr), shape=(len(cells), n_inner))
    x.sum_duplicates()
    nonneg = np.ones(n_inner, dtype=bool)
    for g in grids.values():
        nonneg[g.ids.ravel()] = g.nonneg.ravel()
    return Model(cells, x, nonneg)


def _add_revisions(t, frames, catalog, pops, cell_support, support, add, threshold) -> None:
    """revisjoner: endelig_verdi repeats a published cell, forste_verdi is its own population
    (an older snapshot), endring their difference."""
    rev = t.revisjon
    kt_by_maal = {k.maal: k for k in t.noekkeltall}
    index: dict[str, dict[tuple, dict]] = {}
    for k in t.noekkeltall:
        f = frames[k.tabell]
        mask = np.ones(len(f), dtype=bool)
        for col, val in k.hvor.items():
            mask &= f[col].astype(str).to_numpy() == val
        index[k.maal] = {
            (int(r["aar"]), r["nivaa"], str(r["region"])): r for r in f[mask].to_dict("records")
        }
    for i, rec in enumerate(frames[t.name].to_dict("records")):
        k = kt_by_maal[rec["maal"]]
        src_t = catalog[k.tabell]
        src_rec = index[rec["maal"]].get((int(rec["aar"]), rec["nivaa"], str(rec["region"])))
        # a region without a row in the published table has 0 there: nothing to hide
        endelig = (
            np.empty(0, dtype=np.int64) if src_rec is None else cell_support(src_t, src_rec, k.maal)
        )
        m = src_t.maal[k.maal]
        pop = _Population(f"revisjon:{k.maal}", [], [], {}, None, m.regioner == "overlapp")
        pops.setdefault(pop.name, pop)
        forste = support(pops[pop.name], (str(rec["aar"]),), rec["nivaa"], str(rec["region"]), {})

        def val(c: str, rec: dict = rec) -> float:
            v = rec[c]
            return 0.0 if v is None or pd.isna(v) else float(v)

        def small(c: str, rec: dict = rec) -> bool:
            v = rec[c]
            return v is not None and not pd.isna(v) and 1 <= float(v) < threshold

        add(
            t.name,
            i,
            rev["endelig"],
            val(rev["endelig"]),
            small(rev["endelig"]),
            endelig,
        )
        add(
            t.name,
            i,
            rev["forste"],
            val(rev["forste"]),
            small(rev["forste"]),
            forste,
        )
        add(
            t.name,
            i,
            rev["endring"],
            val(rev["endring"]),
            False,
            np.concatenate([endelig, forste]),
            np.concatenate([np.ones(len(endelig)), -np.ones(len(forste))]),
        )


def _zero_rests(t: PublishedTable, frame: pd.DataFrame, pops: dict) -> list[tuple]:
    """(row, measure, nivaa, utfall) of the non-negative rests that are 0 in ``t``: the country
    minus its fylker (measures with ``regioner: additiv``), and a measure over every outcome
    minus its declared parts."""
    out: list[tuple] = []
    others = [c for c in t.rad if c not in ("nivaa", "region")]
    additive = [m for m, s in t.maal.items() if s.regioner == "additiv"]
    if "nivaa" in t.rad and additive:
        fy = frame[frame["nivaa"] == "fylke"].groupby(others, dropna=False)[additive].sum()
        for rec in frame[frame["nivaa"] == "land"].to_dict("records"):
            key = tuple(rec[c] for c in others)
            key = key[0] if len(key) == 1 else key
            for m in additive:
                s = float(fy.loc[key, m]) if key in fy.index else 0.0
                if abs(float(rec[m]) - s) < 1e-9:
                    out.append((rec, m, "_rest", None))
    for m, tops in t.outcome_rests():
        pop = pops[t.maal[m].populasjon]
        if not pop.utfall or REST not in pop.utfall:
            continue
        for rec in frame.to_dict("records"):
            if abs(float(rec[m]) - sum(float(rec[c]) for c in tops)) < 1e-9:
                out.append((rec, m, None, [REST]))
    return out


def _revision_residuals(frame: pd.DataFrame, t: PublishedTable) -> dict[str, set[tuple]]:
    """Where a first preliminary value of a fylke differs from the sum of its kommuner."""
    out: dict[str, set[tuple]] = {}
    col = t.revisjon["forste"]
    k = frame[frame["nivaa"] == "kommune"].assign(_f=lambda d: d["region"].str[:2])
    ksum = k.groupby(["maal", "aar", "_f"])[col].sum()
    for r in frame[frame["nivaa"] == "fylke"].itertuples():
        s = ksum.get((r.maal, r.aar, r.region), 0.0)
        if abs(float(getattr(r, col)) - float(s)) > 1e-9:
            out.setdefault(f"revisjon:{r.maal}", set()).add(((str(r.aar),), r.region, ()))
    return out


@dataclass
class Hidden:
    """What disclosure control decided for a set of tables, before any cell is blanked."""

    masks: dict[str, dict[str, np.ndarray]]  # table -> value column -> its rows to blank
    prikket: dict[str, np.ndarray]  # table -> rows with a count or revision hidden
    cells: int
    primary: int
    secondary: int
    hidden_by_rule: int  # measures hidden with their count, shares without their counts


@dataclass
class Protected:
    """The published tables after disclosure control, and what it cost."""

    frames: dict[str, pd.DataFrame]
    cells: int
    primary: int
    secondary: int
    hidden_by_rule: int


def protect(
    frames: dict[str, pd.DataFrame],
    catalog: dict[str, PublishedTable],
    *,
    threshold: int,
    min_share_denominator: int,
    cache: ComponentCache | None = None,
) -> Protected:
    """Hide every cell that must be hidden; returns new frames with ``prikket`` added.

    ``cache``: outcomes of components solved by an earlier publication (same result, fewer
    eliminations; see :class:`~nir.publication.suppression.ComponentCache`)."""
    decided = decide(
        frames,
        catalog,
        threshold=threshold,
        min_share_denominator=min_share_denominator,
        cache=cache,
    )
    return apply(frames, catalog, decided)


def decide(
    frames: dict[str, pd.DataFrame],
    catalog: dict[str, PublishedTable],
    *,
    threshold: int,
    min_share_denominator: int,
    cache: ComponentCache | None = None,
) -> Hidden:
    """Which cells of ``frames`` to hide (see :func:`protect`)."""
    from nir.publication.suppression import gauss_suppress

    model = build_model(frames, catalog, threshold)
    virtual = np.array([c.table == VIRTUAL for c in model.cells], dtype=bool)
    result = gauss_suppress(
        model.x,
        model.values,
        model.primary,
        inner_nonneg=model.inner_nonneg,
        forced=virtual,
        cache=cache,
    )
    masks: dict[str, dict[str, np.ndarray]] = {}
    for cell, hide in zip(model.cells, result.hidden, strict=True):
        if hide and cell.table != VIRTUAL:
            m = masks.setdefault(cell.table, {})
            if cell.column not in m:
                m[cell.column] = np.zeros(len(frames[cell.table]), dtype=bool)
            m[cell.column][cell.row] = True
    by_rule = 0
    prikket: dict[str, np.ndarray] = {}
    for t in catalog.values():
        if t.name not in frames:
            continue
        f = frames[t.name]
        m = masks.setdefault(t.name, {})
        for col in (*t.maal, *(t.revisjon.values() if t.revisjon else ())):
            m.setdefault(col, np.zeros(len(f), dtype=bool))
        for mm in t.maal.values():  # a measure hidden with its count, and the count with it
            if mm.skjules_med:
                a, b = m[mm.name], m[mm.skjules_med]
                by_rule += int((a ^ b).sum())
                m[mm.name] = m[mm.skjules_med] = a | b
        row_hidden = np.zeros(len(f), dtype=bool)
        for mask in m.values():
            row_hidden |= mask
        prikket[t.name] = row_hidden
        for a in t.andeler.values():
            den = pd.to_numeric(f[a.nevner], errors="coerce").to_numpy(dtype=float)
            hide = _blank(f, m, a.nevner) | (den < min_share_denominator)
            for c in a.av:
                hide |= _blank(f, m, c)
            by_rule += int((hide & f[a.name].notna().to_numpy()).sum())
            m[a.name] = hide
    return Hidden(
        masks=masks,
        prikket=prikket,
        cells=int((~virtual).sum()),
        primary=int(model.primary.sum()),
        secondary=int((result.secondary & ~virtual).sum()),
        hidden_by_rule=by_rule,
    )


def _blank(f: pd.DataFrame, masks: dict[str, np.ndarray], col: str) -> np.ndarray:
    """The rows of ``col`` without a figure once its hidden cells are blanked."""
    missing = f[col].isna().to_numpy()
    return missing | masks[col] if col in masks else missing


def apply(
    frames: dict[str, pd.DataFrame], catalog: dict[str, PublishedTable], decided: Hidden
) -> Protected:
    """New frames with the decided cells blanked (None) and the ``prikket`` column added."""
    out = {name: f.copy() for name, f in frames.items()}
    for t in catalog.values():
        if t.name not in out:
            continue
        f = out[t.name]
        for col, mask in decided.masks[t.name].items():
            f[col] = f[col].astype(object).where(~mask, None)
        f["prikket"] = decided.prikket[t.name]
    return Protected(
        frames=out,
        cells=decided.cells,
        primary=decided.primary,
        secondary=decided.secondary,
        hidden_by_rule=decided.hidden_by_rule,
    )
