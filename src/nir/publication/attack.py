"""The published tables as an attacker with a spreadsheet sees them, for the independent audit.

Separate from the disclosure step on purpose: it shares none of its code or bookkeeping. From
the tables exactly as they would be written (hidden cells are null) and the published tables'
declarations (``nir.catalog``) it lists every linear relation an outsider knows among the
published cells, then asks :func:`nir.publication.audit.audit_cells` which hidden cells the
visible ones determine:

- a total over a breakdown is the sum of its parts (kjonn, aldersgruppe, landbakgrunn_gruppe);
- kommuner add up to their fylke, and fylker plus an unknown non-negative rest (skjermet
  persons, the unknown kommune) to the country, for measures declared ``regioner: additiv``;
  where a person can count in several kommuner (``overlapp``) a fylke equals the sum of its
  kommuner only where it does in the data (an attacker may guess it), the country never;
- a measure counting some outcomes is the sum of the measures counting its parts
  (``direkte_overgang = overgang_arbeid + overgang_utdanning``), and a measure over every
  outcome is at least the sum of its declared parts (an unknown non-negative rest);
- the same population in two tables gives equal cells on their common margin
  (``avsluttede`` in deltakelse_aar and resultater_aar);
- ``revisjoner`` repeats a published cell (``endelig_verdi``) and ``endring`` is the difference
  of its two values.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nir.catalog import PublishedTable, shared_margins
from nir.publication.audit import AuditResult, Relation, audit_cells

REST = "_rest"


_KEY = object()  # where a record keeps its key (no column can be named so)


def _key(rec: dict) -> tuple:
    """The row's key: its table's ``rad`` values as text (computed once per record, when read
    by ``_Builder.records``)."""
    return rec[_KEY]


def _val(v: object) -> float | None:
    if v is None:
        return None
    try:
        if pd.isna(v):  # type: ignore[arg-type]
            return None
    except (TypeError, ValueError):
        pass
    return float(v)  # type: ignore[arg-type]


def _at(rec: dict, dims: dict[str, str]) -> bool:
    """Whether ``rec`` is at the given codes (a breakdown's total)."""
    return all(str(rec[d]) == v for d, v in dims.items())


@dataclass
class Attack:
    """The audit's verdict on a set of published tables."""

    result: AuditResult
    hidden: int  # published cells hidden

    def frame(self) -> pd.DataFrame:
        """One row per hidden cell the visible ones determine (for the publication suite)."""
        return pd.DataFrame(
            {
                "celle": [
                    f"{f.cell[0]}.{f.cell[2]} {'/'.join(f.cell[1])}"
                    for f in self.result.recoverable
                ],
                "primaer": [bool(f.primary) for f in self.result.recoverable],
                "melding": [f.message() for f in self.result.recoverable],
            }
        )

    def summary(self) -> dict:
        """Counts for the publication record (the attacker's rest cells are not published)."""
        found = self.result.recoverable
        return {
            "audit_passed": not any(f.primary for f in found),
            "audit_hidden": self.hidden,
            "audit_primary_hidden": self.result.primary_hidden,
            "audit_recoverable": len(found),
            "audit_recoverable_primary": sum(1 for f in found if f.primary),
        }


class _Builder:
    """The attacker's cells and relations. What it knows is the tables' structure and the
    relations among their cells, which the unsuppressed tables give whatever is hidden
    (:func:`prepare_audit`); the published values come last (:meth:`add_published`)."""

    def __init__(self, true, catalog) -> None:
        self.true = true
        self.catalog = catalog
        self.cells: dict[tuple, float | None] = {}
        self.truth: dict[tuple, float] = {}
        self.relations: list[Relation] = []
        self.rest = 0
        self._records: dict[str, list[dict]] = {}

    def records(self, table: str) -> list[dict]:
        """The unsuppressed rows of ``table`` as plain dicts, each with its key (read once)."""
        if table not in self._records:
            f = self.true[table]
            # through NumPy: iterating an Arrow-backed column (pandas' strings) is slow
            columns = {c: f[c].to_numpy(dtype=object).tolist() for c in f.columns}
            keys = zip(*(map(str, columns[c]) for c in self.catalog[table].rad), strict=True)
            recs = [
                dict(zip(columns, vals, strict=True))
                for vals in zip(*columns.values(), strict=True)
            ]
            for rec, key in zip(recs, keys, strict=True):
                rec[_KEY] = key
            self._records[table] = recs
        return self._records[table]

    def groups(self, table: str, keys: list[str]) -> dict[tuple, list[dict]]:
        out: dict[tuple, list[dict]] = {}
        for r in self.records(table):
            out.setdefault(tuple(r[k] for k in keys), []).append(r)
        return out

    @staticmethod
    def _cell_columns(t: PublishedTable) -> list[str]:
        return [*t.maal, *(t.revisjon.values() if t.revisjon else ())]

    def add_cells(self) -> None:
        """Every published cell with its true value; hidden (None) until
        :meth:`add_published` gives the published values."""
        for t in self.catalog.values():
            cols = self._cell_columns(t)
            for q in self.records(t.name):
                k = _key(q)
                for c in cols:
                    self.cells[(t.name, k, c)] = None
                    self.truth[(t.name, k, c)] = _val(q[c]) or 0.0

    def add_published(self, published: dict[str, pd.DataFrame]) -> None:
        """The published values of the cells (null where hidden), row for row."""
        for t in self.catalog.values():
            cols = self._cell_columns(t)
            pub = {c: published[t.name][c].tolist() for c in cols}
            for i, q in enumerate(self.records(t.name)):
                k = _key(q)
                for c in cols:
                    self.cells[(t.name, k, c)] = _val(pub[c][i])

    def relation(self, name: str, total: tuple, parts: list[tuple], rest: bool = False) -> None:
        terms = [(total, 1.0)] + [(p, -1.0) for p in parts]
        if rest:
            self.rest += 1
            key = (REST, (str(self.rest),), "rest")
            value = self.truth[total] - sum(self.truth[p] for p in parts)
            self.cells[key] = None
            self.truth[key] = value
            terms.append((key, -1.0))
        self.relations.append(Relation(name, tuple(terms)))

    def breakdowns(self, t: PublishedTable) -> None:
        for d, total in t.dimensjoner.items():
            others = [c for c in t.rad if c != d]
            for gkey, recs in self.groups(t.name, others).items():
                tot = [r for r in recs if str(r[d]) == total]
                parts = [r for r in recs if str(r[d]) != total]
                if len(tot) != 1 or not parts:
                    continue
                for m in t.maal:
                    self.relation(
                        f"{t.name}.{m}: {d} {total} = sum of {d} ({'/'.join(map(str, gkey))})",
                        (t.name, _key(tot[0]), m),
                        [(t.name, _key(r), m) for r in parts],
                    )

    def regions(self, t: PublishedTable, measures: dict[str, str], group_extra=None) -> None:
        """measures: column -> additiv | overlapp."""
        if "nivaa" not in t.rad:
            return
        others = [c for c in t.rad if c not in ("nivaa", "region")]
        for gkey, recs in self.groups(t.name, others).items():
            land = [r for r in recs if r["nivaa"] == "land"]
            fylker = [r for r in recs if r["nivaa"] == "fylke"]
            kommuner = [r for r in recs if r["nivaa"] == "kommune"]
            label = "/".join(map(str, gkey))
            for col, kind in measures.items():
                if group_extra and not group_extra(recs[0], col):
                    continue
                by_fylke: dict[str, list[dict]] = {}
                for k in kommuner:
                    by_fylke.setdefault(str(k["region"])[:2], []).append(k)
                for fy in fylker:
                    parts = by_fylke.get(str(fy["region"]), [])
                    tot = (t.name, _key(fy), col)
                    pk = [(t.name, _key(k), col) for k in parts]
                    if (
                        kind == "overlapp"
                        and abs(self.truth[tot] - sum(self.truth[p] for p in pk)) > 1e-9
                    ):
                        continue
                    self.relation(
                        f"{t.name}.{col}: fylke {fy['region']} = its kommuner ({label})", tot, pk
                    )
                if land and kind == "additiv":
                    self.relation(
                        f"{t.name}.{col}: land = fylker + skjermet ({label})",
                        (t.name, _key(land[0]), col),
                        [(t.name, _key(r), col) for r in fylker],
                        rest=True,
                    )

    def outcomes(self, t: PublishedTable) -> None:
        recs = self.records(t.name)
        for m, combo in t.outcome_sums():  # a measure = the measures of its parts
            for r in recs:
                k = _key(r)
                self.relation(
                    f"{t.name}: {m} = {' + '.join(combo)}",
                    (t.name, k, m),
                    [(t.name, k, c) for c in combo],
                )
        for m, tops in t.outcome_rests():  # a measure over every outcome >= its parts
            for r in recs:
                k = _key(r)
                self.relation(
                    f"{t.name}: {m} = {' + '.join(tops)} + rest",
                    (t.name, k, m),
                    [(t.name, k, c) for c in tops],
                    rest=True,
                )

    def shared_populations(self) -> None:
        for ta, ma, tb, mb in shared_margins(self.catalog):
            common = [c for c in ta.rad if c in tb.rad]
            only_a = {d: v for d, v in ta.dimensjoner.items() if d not in tb.rad}
            only_b = {d: v for d, v in tb.dimensjoner.items() if d not in ta.rad}
            fa = [r for r in self.records(ta.name) if _at(r, only_a)]
            fb = {
                tuple(str(r[c]) for c in common): r for r in self.records(tb.name) if _at(r, only_b)
            }
            for ra in fa:
                rb = fb.get(tuple(str(ra[c]) for c in common))
                if rb is not None:
                    self.relation(
                        f"{ta.name}.{ma} = {tb.name}.{mb}",
                        (ta.name, _key(ra), ma),
                        [(tb.name, _key(rb), mb)],
                    )

    def revisions(self, t: PublishedTable) -> None:
        rev = t.revisjon or {}
        kts = {k.maal: k for k in t.noekkeltall}
        index = {}
        for k in t.noekkeltall:
            src = self.catalog[k.tabell]
            for r in self.records(k.tabell):
                if _at(r, k.hvor):
                    index[(k.maal, str(r["aar"]), r["nivaa"], str(r["region"]))] = (src, r)
        for r in self.records(t.name):
            key = _key(r)
            hit = index.get((r["maal"], str(r["aar"]), r["nivaa"], str(r["region"])))
            if hit is not None:
                src, sr = hit
                self.relation(
                    f"revisjoner.{rev['endelig']} = {src.name}.{r['maal']}",
                    (t.name, key, rev["endelig"]),
                    [(src.name, _key(sr), kts[r["maal"]].maal)],
                )
            self.relations.append(
                Relation(
                    f"revisjoner: {rev['endring']} = {rev['endelig']} - {rev['forste']}",
                    (
                        ((t.name, key, rev["endring"]), 1.0),
                        ((t.name, key, rev["endelig"]), -1.0),
                        ((t.name, key, rev["forste"]), 1.0),
                    ),
                )
            )
        # first preliminary values add up over regions like the measure they repeat
        for maal, k in kts.items():
            kind = self.catalog[k.tabell].maal[maal].regioner
            self.regions(
                t,
                {rev["forste"]: kind},
                group_extra=lambda rec, col, maal=maal: rec["maal"] == maal,
            )


def prepare_audit(true: dict[str, pd.DataFrame], catalog: dict[str, PublishedTable]) -> _Builder:
    """The attacker's relations among the cells of the unsuppressed ``true`` tables: what does
    not depend on which cells are hidden (about half of an audit's time), so it can be
    worked out while disclosure control decides (:mod:`nir.publication.years`)."""
    b = _Builder(true, catalog)
    b.add_cells()
    for t in catalog.values():
        if t.revisjon:
            b.revisions(t)
            continue
        b.breakdowns(t)
        b.regions(t, {m: s.regioner for m, s in t.maal.items()})
        b.outcomes(t)
    b.shared_populations()
    return b


def finish_audit(b: _Builder, published: dict[str, pd.DataFrame], threshold: int) -> Attack:
    """Audit ``published`` (hidden cells null, the rows of ``true`` in order) with the
    relations :func:`prepare_audit` found. Call once per prepared builder."""
    catalog = b.catalog
    b.add_published(published)
    primary = set()
    for (table, key, col), v in b.cells.items():
        if v is not None or table == REST:
            continue
        t = catalog[table]
        count = t.maal[col].skjules_med if col in t.maal and t.maal[col].skjules_med else col
        tv = b.truth.get((table, key, count), 0.0)
        if (col in t.count_columns or count != col) and 1 <= tv < threshold:
            primary.add((table, key, col))
    hidden_truth = {k: b.truth[k] for k, v in b.cells.items() if v is None}
    free = {
        key
        for key, v in b.cells.items()
        if v is None
        and key[0] in catalog
        and catalog[key[0]].revisjon
        and key[2] == catalog[key[0]].revisjon["endring"]
    }
    result = audit_cells(b.cells, hidden_truth, primary, b.relations, free=free)
    result.recoverable = [f for f in result.recoverable if f.cell[0] != REST]
    hidden = sum(1 for (table, _, _), v in b.cells.items() if v is None and table != REST)
    return Attack(result, hidden)


def audit_publication(
    published: dict[str, pd.DataFrame],
    true: dict[str, pd.DataFrame],
    catalog: dict[str, PublishedTable],
    threshold: int,
) -> Attack:
    """Audit ``published`` (hidden cells null) against the unsuppressed ``true`` tables."""
    return finish_audit(prepare_audit(true, catalog), published, threshold)
