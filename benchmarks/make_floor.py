"""Regenerate the body of benchmarks/floor.sql from dbt's compiled models.

Usage, after any `nir build --snapshot 2025-01-01` (the compiled SQL carries that date):

    .venv/bin/python benchmarks/make_floor.py data/dbt/target 2025-01-01 > /tmp/floor_body.sql

then replace everything below the header comment of benchmarks/floor.sql with the output.
Staging, intermediate and marts models are written in dependency order as plain CREATE
statements (staging as views); refs become table names in the in-memory database, sources and
seeds stay in the attached warehouse, and the snapshot literal becomes a variable.
"""

from __future__ import annotations

import re
import sys
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
        sql = sql.replace(f"cast('{snapshot}' as date)", "getvariable('snapshot')")
        sql = re.sub(r"^\s*--.*$", "", sql, flags=re.M)
        sql = "\n".join(ln.rstrip() for ln in sql.splitlines() if ln.strip())
        kind = "view" if m.startswith("stg_") else "table"
        out.append(f"create or replace {kind} {m} as\n{sql}\n;\n")
    return "\n".join(out)


if __name__ == "__main__":
    print(flatten(Path(sys.argv[1]), sys.argv[2]), end="")
