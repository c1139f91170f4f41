"""What is published, from which snapshot per year, and the last gate results."""

from __future__ import annotations

import json
from typing import Any

from nir.config import Settings


def collect(settings: Settings, last: int = 5) -> dict[str, Any]:
    """The publication record (``statistikk.json``) and the last ``last`` gate verdicts."""
    meta = settings.published_dir / "statistikk.json"
    published = json.loads(meta.read_text("utf-8")) if meta.is_file() else None
    gates: list[dict[str, Any]] = []
    if settings.gx_dir.is_dir():
        for d in sorted(settings.gx_dir.iterdir()):
            rec = d / "gate.json"
            if rec.is_file():
                gates.append(json.loads(rec.read_text("utf-8")))
    return {"published": published, "gates": gates[-last:]}


def render(doc: dict[str, Any]) -> str:
    lines: list[str] = []
    pub = doc.get("published")
    if not pub:
        lines.append("Published: nothing yet")
    else:
        lines.append(
            f"Published: {pub['file']} (newest snapshot {pub['snapshot']}, "
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
        docs = g.get("docs") or {}
        if docs:
            lines.append("    docs: " + ", ".join(docs.values()))
    return "\n".join(lines)


def published_figures(settings: Settings) -> list[dict[str, Any]]:
    """National key figures per year from the published database (what analysts see)."""
    import duckdb

    if not settings.published_db.exists():
        return []
    con = duckdb.connect(str(settings.published_db), read_only=True)
    try:
        # the file is statistikk.duckdb: catalog and schema are both "statistikk"
        con.execute("use statistikk.statistikk")
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
