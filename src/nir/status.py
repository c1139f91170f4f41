"""What is published, from which snapshot per year, and the last gate results.

The gate's verdicts come from the warehouse (``gate.resultater``, through the publishing
layer's view), never from Great Expectations' files: deleting ``data/gx`` changes nothing here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nir.config import Settings


def collect(settings: Settings, last: int = 5) -> dict[str, Any]:
    """The publication record (``statistikk.json``) and the last ``last`` gate verdicts.

    Every path in it is relative to the data directory (``paths``, each verdict's ``page``),
    so a record reads the same on any machine that has the data directory.
    """
    from nir.gate import verdicts

    base = settings.data_dir
    meta = settings.published_record
    published = json.loads(meta.read_text("utf-8")) if meta.is_file() else None
    if published is not None:
        published = _relative(published, base)
    docs = base / "docs"
    gates = []
    for v in verdicts(settings)[-last:]:
        page = docs / f"gate-{v['snapshot']}.html"
        gates.append(v | {"page": relative_path(page, base) if page.is_file() else None})
    return {
        "published": published,
        "gates": gates,
        "paths": {
            "published_db": relative_path(settings.published_db, base),
            "parquet": relative_path(settings.published_dir / "parquet", base),
            "docs": relative_path(docs / "index.html", base)
            if (docs / "index.html").is_file()
            else None,
        },
    }


def to_json(doc: dict[str, Any]) -> str:
    """``nir status --json``: the collected status as one JSON document."""
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str)


def relative_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` (the data directory) when it is inside it, else as is."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def _relative(value: Any, base: Path) -> Any:
    """A record with every absolute path inside ``base`` made relative to it."""
    if isinstance(value, dict):
        return {k: _relative(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, base) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        return relative_path(Path(value), base)
    return value


def render(doc: dict[str, Any]) -> str:
    lines: list[str] = []
    pub = doc.get("published")
    if not pub:
        lines.append("Published: nothing yet")
    else:
        where = (doc.get("paths") or {}).get("published_db") or pub["file"]
        lines.append(
            f"Published: {where} (newest snapshot {pub['snapshot']}, "
            f"at {pub['published_at']}, sha256 {pub['sha256'][:12]})"
        )
        years: dict[str, set[str]] = {}
        for per_year in pub.get("sources", {}).values():
            for year, src in per_year.items():
                years.setdefault(year, set()).add(f"{src['status']} from {src['snapshot']}")
        for year in sorted(years):
            lines.append(f"  {year}: " + "; ".join(sorted(years[year])))
        rows = ", ".join(f"{t} {n}" for t, n in pub.get("rows", {}).items())
        lines.append(f"  rows: {rows}")
        d = pub.get("disclosure") or {}
        if d:
            lines.append(
                f"  disclosure control: {d.get('primary', 0)} primary and "
                f"{d.get('secondary', 0)} secondary cells hidden of {d.get('cells', 0)}; "
                f"recoverable after the audit: {d.get('audit_recoverable', 0)}"
            )
    gates = doc.get("gates") or []
    lines.append("Last gate results:" if gates else "Last gate results: none")
    for g in gates:
        verdict = "passed" if g.get("passed") else "FAILED"
        lines.append(f"  {g['snapshot']}: {verdict} (run {g.get('run_at', '?')})")
        for f in g.get("hard_failures", []):
            lines.append(f"    x {f}")
        warnings = g.get("warnings", [])
        if warnings:
            lines.append(f"    {len(warnings)} warning(s): " + "; ".join(warnings[:3]))
    return "\n".join(lines)


def published_figures(settings: Settings) -> list[dict[str, Any]]:
    """National key figures per year from the published database (what analysts see)."""
    import duckdb

    if not settings.published_db.exists():
        return []
    con = duckdb.connect(str(settings.published_db), read_only=True)
    try:
        rows = con.execute(
            """
            select d.aar, d.status, d.snapshot_date, d.deltakere, d.nye_deltakere,
                   d.avsluttede, r.andel_direkte_overgang
            from deltakelse_aar d
            left join resultater_aar r
              on r.aar = d.aar and r.nivaa = 'land' and r.region = '0000'
             and r.kjonn = 'alle' and r.landbakgrunn_gruppe = 'alle'
            where d.nivaa = 'land' and d.region = '0000' and d.kjonn = 'alle'
              and d.aldersgruppe = 'alle'
            order by d.aar
            """
        ).fetchall()
        cols = [c[0] for c in con.description]
    finally:
        con.close()
    return [dict(zip(cols, r, strict=True)) for r in rows]


def published_tables(con: Any) -> list[str]:
    """The tables of a published database (schema ``statistikk``), by name."""
    return [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'statistikk' order by 1"
        ).fetchall()
    ]


def published_digest(path: Path) -> dict[str, dict[str, Any]]:
    """Per published table (schema ``statistikk``): its columns, row count and a SHA-256 of
    its rows in a fixed order: two publications with the same digest publish the same figures.

    What the demo's and the tests' "same published result" means (``nir status --digest``):
    the row order and the time of publication do not count, a column's name and every value
    do. Values are hashed as their canonical text (``repr`` of a float, ISO dates), so the
    digest is stable across runs and machines with the locked DuckDB.
    """
    import hashlib

    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        out: dict[str, dict[str, Any]] = {}
        for t in published_tables(con):
            cur = con.execute(f'select * from statistikk."{t}"')
            columns = [c[0] for c in cur.description]
            lines = sorted(json.dumps(row, default=_canonical) for row in cur.fetchall())
            h = hashlib.sha256()
            h.update(json.dumps(columns).encode())
            for line in lines:
                h.update(line.encode() + b"\n")
            out[t] = {"columns": len(columns), "rows": len(lines), "sha256": h.hexdigest()}
    finally:
        con.close()
    return out


def _canonical(value: Any) -> str:
    """Text for the values JSON has no type for (dates, decimals)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
