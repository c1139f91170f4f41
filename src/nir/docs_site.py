"""The documentation a reader opens offline: ``<data>/docs/``.

``write_docs(settings, snapshot)`` writes

- ``dbt.html``: dbt's docs as one static page (``dbt docs generate --static``: the manifest
  and the warehouse's catalog inlined, scripts and styles inlined; it loads nothing from the
  network);
- ``gate-<snapshot>.html`` for every snapshot the gate has judged: its current verdict (the
  warehouse's ``staging.stg_gate__gjeldende``, i.e. ``gate.resultater``), every check with
  its observed value and limit (shares in percent with the limit's precision), and links to
  each suite's ``results.html`` under ``<data>/gx/`` (GX's own pages are reached only from
  there: its stock index loads scripts from the internet);
- ``index.html``: the snapshots with their verdicts, linking the pages above.

Every page is self-contained (no external script, style, font or image) and links with
relative paths, so the folder can be copied together with ``<data>/gx/``.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from html import escape
from pathlib import Path
from typing import Any

from nir.config import Settings
from nir.errors import NirError
from nir.files import atomic_write_text

STYLE = (
    "<style>body{font-family:sans-serif;margin:2rem;max-width:70rem}"
    "td,th{border:1px solid #bbb;padding:.2rem .5rem;text-align:left;vertical-align:top}"
    "table{border-collapse:collapse}.ok{color:#176317}.failed{color:#a01010;font-weight:bold}"
    ".warning{color:#8a5a00}</style>"
)


def docs_dir(settings: Settings) -> Path:
    return settings.data_dir / "docs"


def write_docs(settings: Settings, snapshot: date | None = None, *, dbt: bool = True) -> Path:
    """Write the offline docs under ``<data>/docs/``; returns its ``index.html``.

    ``snapshot`` is the one dbt's docs are generated for; default: the newest snapshot the
    gate has judged. Gate pages are written for every judged snapshot. The dbt page is
    generated again only when the project changed since it was written (its key, the
    project's hash, is kept beside it); ``dbt=False`` leaves it as it is (the gate writes its
    pages that way, without starting dbt). Raises :class:`NirError` when the warehouse holds
    no gate result yet.
    """
    checks = _gate_checks(settings)
    if not checks:
        raise NirError(
            f"no gate results in the warehouse {settings.warehouse}: run the gate on a built "
            "snapshot first (nir gate <snapshot>)"
        )
    snapshots = sorted({c["snapshot_date"] for c in checks}, reverse=True)
    if snapshot is None:
        snapshot = snapshots[0]
    out = docs_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    dbt_page = out / "dbt.html"
    if dbt:
        write_dbt_docs(settings, snapshot, dbt_page)
    pages = []
    for snap in snapshots:
        rows = [c for c in checks if c["snapshot_date"] == snap]
        pages.append((snap, write_gate_page(settings, snap, rows, out)))
    index = out / "index.html"
    atomic_write_text(index, _index_html(settings, pages, checks, dbt_page, out))
    return index


# --- dbt docs ----------------------------------------------------------------------------------
def write_dbt_docs(settings: Settings, snapshot: date, target: Path) -> Path:
    """``dbt docs generate --static`` for ``snapshot``, copied to ``target``, unless
    ``target`` was generated from the same project (``<target>.key``)."""
    from nir.warehouse import writer_lock
    from nir.warehouse.dbt import dbt_dir, project_key, run_dbt

    key_file = target.with_name(target.name + ".key")
    key = project_key(settings)
    if target.is_file() and key_file.is_file() and key_file.read_text("utf-8") == key:
        return target
    args = ["docs", "generate", "--static", "--quiet"]
    with writer_lock(settings):
        run_dbt(settings, args, what="dbt docs generate --static", snapshot=snapshot)
    page = dbt_dir(settings) / "target" / "static_index.html"
    if not page.is_file():
        raise NirError(f"dbt docs generate --static wrote no {page}")
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(page, tmp)
    os.replace(tmp, target)
    atomic_write_text(key_file, key)
    return target


# --- gate pages --------------------------------------------------------------------------------
def _gate_checks(settings: Settings) -> list[dict[str, Any]]:
    """The current checks of every judged snapshot (``staging.stg_gate__gjeldende``)."""
    from nir.warehouse import connect

    if not settings.warehouse.exists():
        return []
    con = connect(settings, read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'staging' and table_name = 'stg_gate__gjeldende'"
        ).fetchone()
        if not exists or not exists[0]:
            return []
        cur = con.execute(
            "select snapshot_date, suite, sjekk, alvorlighet, bestatt, observert, grense, "
            "detalj, kjoring_tid from staging.stg_gate__gjeldende "
            "order by snapshot_date, suite, bestatt, alvorlighet, sjekk"
        )
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def passed(rows: list[dict[str, Any]]) -> bool:
    """The verdict: no current hard check failed."""
    return all(r["bestatt"] or r["alvorlighet"] != "hard" for r in rows)


def shown_observed(observed: str | None, limit: str | None) -> str:
    """An observed value as the page shows it: a share in percent with its limit's precision."""
    from nir.gate import _shown

    if observed is None:
        return ""
    return _shown(observed, limit)


def write_gate_page(
    settings: Settings, snapshot: date, rows: list[dict[str, Any]], out: Path
) -> Path:
    """``gate-<snapshot>.html``: the verdict, every current check, links to the suites."""
    verdict = "passed" if passed(rows) else "FAILED"
    gx = settings.gx_dir / snapshot.isoformat() / "docs"
    suites = sorted({r["suite"] for r in rows})
    links = []
    for suite in suites:
        page = gx / suite / "results.html"
        if page.is_file():
            href = os.path.relpath(page, out)
            links.append(f'<li><a href="{escape(href)}">{escape(suite)}</a></li>')
        else:
            links.append(f"<li>{escape(suite)} (no results page: GX's files were removed)</li>")
    body = "".join(
        "<tr>"
        f"<td class='{_css(r)}'>{_result(r)}</td><td>{escape(r['alvorlighet'])}</td>"
        f"<td>{escape(r['suite'])}</td><td>{escape(r['sjekk'])}</td>"
        f"<td>{escape(shown_observed(r['observert'], r['grense']))}</td>"
        f"<td>{escape(r['grense'] or '')}</td>"
        f"<td>{escape((r['detalj'] or '').lstrip(' :='))}</td>"
        "</tr>"
        for r in rows
    )
    run = max(r["kjoring_tid"] for r in rows)
    html = (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        f"<title>Gate {snapshot}: {verdict}</title>{STYLE}"
        "<p><a href='index.html'>All snapshots</a> · <a href='dbt.html'>dbt docs</a></p>"
        f"<h1>Gate of snapshot {snapshot}: <span class='{verdict.lower()}'>{verdict}</span></h1>"
        f"<p>The current verdict (newest run of each suite since the gate's last run, "
        f"{escape(str(run))} UTC), from the warehouse's gate.resultater. A hard check that "
        "fails blocks publication; a warning does not. Shares are in percent.</p>"
        f"<h2>Suites</h2><ul>{''.join(links)}</ul>"
        "<h2>Checks</h2><table><tr><th>result</th><th>severity</th><th>suite</th>"
        "<th>check</th><th>observed</th><th>limit</th><th>detail</th></tr>"
        f"{body}</table></html>"
    )
    page = out / f"gate-{snapshot.isoformat()}.html"
    atomic_write_text(page, html)
    return page


def _result(r: dict[str, Any]) -> str:
    return "ok" if r["bestatt"] else ("FAILED" if r["alvorlighet"] == "hard" else "warning")


def _css(r: dict[str, Any]) -> str:
    return _result(r).lower()


def _index_html(
    settings: Settings,
    pages: list[tuple[date, Path]],
    checks: list[dict[str, Any]],
    dbt_page: Path,
    out: Path,
) -> str:
    items = []
    for snap, page in pages:
        rows = [c for c in checks if c["snapshot_date"] == snap]
        verdict = "passed" if passed(rows) else "FAILED"
        warnings = sum(1 for r in rows if not r["bestatt"] and r["alvorlighet"] != "hard")
        items.append(
            f"<tr><td><a href='{escape(page.name)}'>{snap}</a></td>"
            f"<td class='{verdict.lower()}'>{verdict}</td><td>{warnings}</td></tr>"
        )
    published = settings.published_record
    pub = ""
    if published.is_file():
        rec = json.loads(published.read_text("utf-8"))
        pub = (
            f"<p>Published: snapshot {escape(str(rec.get('snapshot')))} at "
            f"{escape(str(rec.get('published_at')))} "
            f"(<code>{escape(os.path.relpath(settings.published_db, out))}</code>).</p>"
        )
    dbt_link = (
        f"<p><a href='{escape(dbt_page.name)}'>The dbt project</a>: every model and column "
        "described, with the lineage from the register's exports to the published tables.</p>"
        if dbt_page.is_file()
        else "<p>The dbt project's docs are not written yet (<code>make docs</code>).</p>"
    )
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        f"<title>NIR statistics: documentation</title>{STYLE}"
        "<h1>NIR statistics: documentation</h1>"
        f"{pub}{dbt_link}"
        "<h2>The gate, per snapshot</h2>"
        "<table><tr><th>snapshot</th><th>verdict</th><th>warnings</th></tr>"
        f"{''.join(items)}</table></html>"
    )
