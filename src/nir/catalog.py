"""The published tables as declared in dbt: grain, measures, relations, shares.

Each published table is a model of ``dbt_project/models/publisering`` whose ``meta`` has a
``publisert`` block (documented in ``_publisering__models.yml``). This module reads those
declarations from dbt's parsed manifest (:func:`nir.warehouse.dbt.parse`), so the disclosure
step, its independent audit, the publication suite and the docs all work from one list. A new
published table joins them by declaration alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from nir.config import Settings
from nir.errors import NirError

REGION = ("nivaa", "region")
META_COLUMNS = ("snapshot_date", "status", "prikket")


@dataclass(frozen=True)
class Maal:
    """A measure of a published table."""

    name: str
    type: str = "antall"  # antall: a count (primary suppression applies); timer: hours
    populasjon: str | None = None
    regioner: str = "additiv"  # additiv | overlapp
    utfall: tuple[str, ...] | None = None  # None: every outcome of the population
    skjules_med: str | None = None

    @property
    def is_count(self) -> bool:
        return self.type == "antall"


@dataclass(frozen=True)
class Andel:
    name: str
    av: tuple[str, ...]
    nevner: str


@dataclass(frozen=True)
class Noekkeltall:
    tabell: str
    maal: str
    hvor: dict[str, str]


@dataclass(frozen=True)
class PublishedTable:
    name: str
    description: str
    rad: tuple[str, ...]
    aar: str | None
    dimensjoner: dict[str, str]
    maal: dict[str, Maal]
    andeler: dict[str, Andel]
    columns: tuple[str, ...]  # the model's columns in order (without prikket)
    column_docs: dict[str, str] = field(default_factory=dict)
    revisjon: dict[str, str] | None = None
    noekkeltall: tuple[Noekkeltall, ...] = ()

    @property
    def measures(self) -> dict[str, str]:
        """The value columns, measure -> kind (``antall``, ``timer``, ``andel``,
        ``revisjon``), in the order of the model's columns."""
        kinds: dict[str, str] = {m: s.type for m, s in self.maal.items()}
        kinds.update({a: "andel" for a in self.andeler})
        if self.revisjon:
            kinds.update({self.revisjon[k]: "revisjon" for k in ("forste", "endelig", "endring")})
        in_order = {c: kinds[c] for c in self.columns if c in kinds}
        return in_order | {m: k for m, k in kinds.items() if m not in in_order}

    @property
    def status_columns(self) -> tuple[str, ...]:
        """One ``<measure>_status`` per measure: the state of each published cell."""
        return tuple(f"{m}_status" for m in self.measures)

    @property
    def published_columns(self) -> tuple[str, ...]:
        """The columns of the published table: the model's, the prikket flag and one status
        per measure."""
        return (*self.columns, "prikket", *self.status_columns)

    @property
    def partitions(self) -> tuple[str, ...]:
        """Grain columns that are neither region nor an additive breakdown (aar, periode,
        tiltakskode, kontroll, maal): cells with different values never add up."""
        return tuple(c for c in self.rad if c not in REGION and c not in self.dimensjoner)

    @property
    def count_columns(self) -> tuple[str, ...]:
        cols = [m.name for m in self.maal.values() if m.is_count]
        if self.revisjon:
            cols += [self.revisjon["forste"], self.revisjon["endelig"]]
        return tuple(cols)

    def outcome_sums(self) -> list[tuple[str, tuple[str, ...]]]:
        """(measure, parts): a measure counting some outcomes equals the sum of the measures
        that count a partition of them (direkte_overgang = overgang_arbeid +
        overgang_utdanning)."""
        outs = {m: frozenset(s.utfall) for m, s in self.maal.items() if s.utfall}
        found = []
        for m, whole in outs.items():
            others = [o for o in outs if o != m and outs[o] < whole]
            for n in range(2, len(others) + 1):
                for combo in combinations(others, n):
                    sets = [outs[c] for c in combo]
                    if frozenset().union(*sets) == whole and sum(map(len, sets)) == len(whole):
                        found.append((m, combo))
        return found

    def outcome_rests(self) -> list[tuple[str, tuple[str, ...]]]:
        """(measure, parts): a measure over every outcome of its population is at least the
        sum of the largest disjoint measures that count some of them (the rest unknown)."""
        outs = {m: frozenset(s.utfall) for m, s in self.maal.items() if s.utfall}
        tops = tuple(c for c in outs if not any(outs[c] < outs[o] for o in outs))
        return [
            (m, tops)
            for m, s in self.maal.items()
            if not s.utfall and tops and all(self.maal[c].populasjon == s.populasjon for c in tops)
        ]


def shared_margins(
    catalog: dict[str, PublishedTable],
) -> list[tuple[PublishedTable, str, PublishedTable, str]]:
    """Pairs of cells of one population (and outcomes) in two tables: equal on the margin the
    tables share, with the breakdowns only one of them has at their total."""
    groups: dict[tuple, list[tuple[PublishedTable, str]]] = {}
    for t in catalog.values():
        for m, s in t.maal.items():
            groups.setdefault((s.populasjon, s.utfall), []).append((t, m))
    return [
        (ta, ma, tb, mb)
        for group in groups.values()
        for (ta, ma), (tb, mb) in combinations(group, 2)
        if ta.name != tb.name
    ]


def _noekkeltall(meta: dict[str, Any]) -> tuple[Noekkeltall, ...]:
    return tuple(
        Noekkeltall(k["tabell"], k["maal"], dict(k.get("hvor") or {}))
        for k in meta.get("noekkeltall") or ()
    )


def _models(manifest: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(node, meta) of every model in a parsed dbt manifest, by name; meta merges the
    config's and the node's own."""
    nodes = sorted(manifest.get("nodes", {}).values(), key=lambda n: n.get("name", ""))
    for node in nodes:
        if node.get("resource_type") != "model":
            continue
        meta = dict((node.get("config") or {}).get("meta") or {})
        meta.update(node.get("meta") or {})
        yield node, meta


def _text(description: str | None) -> str:
    """A yml description as one line (folded blocks keep their line breaks)."""
    return " ".join((description or "").split())


def _column_docs(node: dict[str, Any]) -> dict[str, str]:
    return {c: _text(v.get("description")) for c, v in node.get("columns", {}).items()}


def from_manifest(manifest: dict[str, Any]) -> dict[str, PublishedTable]:
    """The published tables declared in a parsed dbt manifest, in a stable order."""
    out: dict[str, PublishedTable] = {}
    for node, meta in _models(manifest):
        decl = meta.get("publisert")
        if not decl or "rad" not in decl:
            continue
        name = node["name"]
        maal = {
            m: Maal(
                name=m,
                type=spec.get("type", "antall"),
                populasjon=spec.get("populasjon", f"{name}.{m}"),
                regioner=spec.get("regioner", "additiv"),
                utfall=tuple(spec["utfall"]) if spec.get("utfall") else None,
                skjules_med=spec.get("skjules_med"),
            )
            for m, spec in (decl.get("maal") or {}).items()
        }
        andeler = {
            a: Andel(a, tuple(spec["av"]), spec["nevner"])
            for a, spec in (decl.get("andeler") or {}).items()
        }
        columns = tuple(node.get("columns", {}).keys())
        out[name] = PublishedTable(
            name=name,
            description=_text(node.get("description")),
            rad=tuple(decl["rad"]),
            aar=decl.get("aar"),
            dimensjoner=dict(decl.get("dimensjoner") or {}),
            maal=maal,
            andeler=andeler,
            columns=columns,
            column_docs=_column_docs(node),
            revisjon=decl.get("revisjon"),
            noekkeltall=_noekkeltall(meta),
        )
    return out


@dataclass(frozen=True)
class LabelTable:
    """A table of labels published beside the figures (``meta.etikett_tabell``), as it is."""

    name: str
    description: str
    columns: tuple[str, ...]
    column_docs: dict[str, str] = field(default_factory=dict)


def label_tables_from_manifest(manifest: dict[str, Any]) -> dict[str, LabelTable]:
    """The label tables declared in a parsed dbt manifest, in a stable order."""
    return {
        node["name"]: LabelTable(
            name=node["name"],
            description=_text(node.get("description")),
            columns=tuple(node.get("columns", {}).keys()),
            column_docs=_column_docs(node),
        )
        for node, meta in _models(manifest)
        if meta.get("etikett_tabell")
    }


# The last manifest read, with its file's identity (path, inode, mtime, size): a worker reads
# it once per project version rather than in every task that needs the catalog (~25 ms).
_last: tuple[tuple[Path, int, int, int], dict[str, Any]] | None = None


def _manifest(settings: Settings) -> tuple[Path, dict[str, Any]]:
    """The parsed manifest of the project as it is now (kept per project version). Callers
    only read it."""
    global _last
    from nir.warehouse.dbt import parse

    path = parse(settings)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NirError(f"no dbt manifest at {path}: dbt parse did not write one") from None
    identity = (path, st.st_ino, st.st_mtime_ns, st.st_size)
    if _last is None or _last[0] != identity:
        _last = (identity, json.loads(path.read_text("utf-8")))
    return path, _last[1]


def load_catalog(settings: Settings) -> dict[str, PublishedTable]:
    """The published tables declared in the dbt project (parsed by the last dbt run)."""
    path, manifest = _manifest(settings)
    tables = from_manifest(manifest)
    if not tables:
        raise NirError(f"the dbt manifest {path} declares no published table (meta publisert)")
    return tables


def load_label_tables(settings: Settings) -> dict[str, LabelTable]:
    """The label tables declared in the dbt project (``meta.etikett_tabell``)."""
    return label_tables_from_manifest(_manifest(settings)[1])
