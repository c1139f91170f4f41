"""The floor of the dbt build, generated from dbt's own compiled SQL at benchmark time.

``flatten(target, snapshot)`` turns the compiled staging, intermediate and marts models of one
``nir build`` (``<data>/dbt/target/compiled``, which carry that snapshot's date) into one plain
DuckDB script: models in dependency order as ``create or replace`` statements (staging as
views), refs become table names in an in-memory database, sources and seeds stay in the
attached warehouse, and the snapshot literal becomes ``getvariable('snapshot')``. No dbt, no
tests, no incremental merge: what DuckDB alone needs to compute the same marts. Nothing of it
is committed, so it cannot drift from the models.
"""

from __future__ import annotations

import re
from pathlib import Path

REF = re.compile(r'"warehouse"\."(?:staging|intermediate|marts)"\."(\w+)"')


def flatten(target: Path, snapshot: str) -> str:
    root = target / "compiled" / "nir" / "models"
    models = {
        p.stem: p.read_text("utf-8")
        for d in ("staging/nir", "intermediate", "marts")
        for p in sorted((root / d).glob("*.sql"))
    }
    deps = {m: set(REF.findall(sql)) for m, sql in models.items()}
    order: list[str] = []

    def visit(m: str) -> None:
        if m in order:
            return
        for d in sorted(deps[m]):
            visit(d)
        order.append(m)

    for m in sorted(models):
        visit(m)
    out = []
    for m in order:
        sql = REF.sub(r"\1", models[m])
        sql = sql.replace("getvariable('nir_snapshot')", "getvariable('snapshot')")
        sql = sql.replace(f"cast('{snapshot}' as date)", "getvariable('snapshot')")
        sql = re.sub(r"^\s*--.*$", "", sql, flags=re.M)
        sql = "\n".join(ln.rstrip() for ln in sql.splitlines() if ln.strip())
        kind = "view" if m.startswith("stg_") else "table"
        out.append(f"create or replace {kind} {m} as\n{sql}\n;\n")
    return "\n".join(out)
