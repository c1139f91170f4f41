"""Great Expectations: run the suites in ``expectations/`` and keep their results.

The suites are built in code in the package ``nir_expectations`` (folder ``expectations/``,
installed with the project: ``completeness`` and ``marts`` gate a built snapshot,
``publication`` checks a statistics database after disclosure control). Every outcome is
written to the warehouse table ``gate.resultater`` (a dbt source): that is the verdict the
publishing layer and ``nir status`` read. GX's Data Docs are the human view of the same runs.
Each suite module has a ``build(...)`` function that returns :class:`Check` objects: a
DataFrame read from DuckDB and the GX expectations to run on it. GX's SQL path does not work
on DuckDB, so every check validates a pandas DataFrame in an ephemeral context.

Every expectation carries ``meta``: ``severity`` (``hard`` blocks publication, ``warning``
never does), ``label`` (what a failure message calls it) and optionally ``format``
(``share``: the observed value is a share, printed as a percentage).

Each validation is kept as JSON under ``settings.gx_dir/<snapshot>/<suite>.json`` and
rendered as GX Data Docs (HTML) under ``settings.gx_dir/<snapshot>/docs/<suite>/``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb

from nir.checks import HARD, Check, by_position
from nir.config import Settings
from nir.errors import NirError
from nir.files import atomic_write_text
from nir.warehouse.results import RESULTS_TABLE, ensure_results_table

SUITES = ("completeness", "marts", "publication")


class GateFailed(NirError):
    """A snapshot failed a hard expectation: nothing is published. Not transient."""

    exit_code = 5


class PublicationRejected(GateFailed):
    """The new statistics database failed the publication suite: it was not published."""


@dataclass
class Outcome:
    """One expectation's result, reduced to what a message and `nir status` need."""

    suite: str
    asset: str
    expectation: str
    label: str
    severity: str
    success: bool
    observed: Any
    limit: str
    detail: str

    def line(self) -> str:
        return f"{self.label}{self.detail} ({self.severity})"


@dataclass
class SuiteResult:
    suite: str
    snapshot: str
    # When the run started, exactly: it orders the runs in gate.resultater, where a gate run
    # in the same second as a rejected publication must still count as the newer one
    started: datetime
    outcomes: list[Outcome]
    json_path: Path | None = None
    docs_path: Path | None = None

    @property
    def run_at(self) -> str:
        """When the run started, to the second: what people read."""
        return self.started.isoformat(timespec="seconds")

    @property
    def hard_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == HARD]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity != HARD]

    @property
    def passed(self) -> bool:
        return not self.hard_failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "snapshot": self.snapshot,
            "run_at": self.run_at,
            "passed": self.passed,
            "hard_failures": [o.line() for o in self.hard_failures],
            "warnings": [o.line() for o in self.warnings],
            "expectations": [
                {
                    "asset": o.asset,
                    "expectation": o.expectation,
                    "label": o.label,
                    "severity": o.severity,
                    "success": o.success,
                    "observed": _jsonable(o.observed),
                    "limit": o.limit,
                    "detail": o.detail,
                }
                for o in self.outcomes
            ],
        }


# --- loading the suites ---------------------------------------------------------------------
def load_suite(name: str) -> ModuleType:
    """The suite module ``nir_expectations.<name>`` (installed from ``expectations/``)."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}")
    return importlib.import_module(f"nir_expectations.{name}")


def _quiet_gx() -> Any:
    """Import great_expectations with its logging and progress bars silenced."""
    for name in ("great_expectations", "great_expectations.core", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.ERROR)  # GX may set its own level on import

    try:  # GX logs through structlog in some versions: keep only errors
        import structlog

        if not structlog.is_configured():
            structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    except Exception:  # pragma: no cover - structlog absent or already set up
        pass
    return gx


# --- running a suite -----------------------------------------------------------------------
def _unsaved() -> None:
    """What an ephemeral GX context does instead of saving its configuration (run_suite)."""


def run_suite(settings: Settings, suite: str, snapshot: str, checks: list[Check]) -> SuiteResult:
    """Validate ``checks`` with GX, keep the result as JSON and as Data Docs."""
    gx = _quiet_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    run_at = datetime.now(UTC)
    out_dir = settings.gx_dir / snapshot
    out_dir.mkdir(parents=True, exist_ok=True)
    docs_dir = (out_dir / "docs" / suite).resolve()  # GX wants an absolute path
    shutil.rmtree(docs_dir, ignore_errors=True)  # pages of an earlier run are not this run's

    context = gx.get_context(mode="ephemeral")
    # An ephemeral context keeps its configuration in memory, yet GX serialises all of it
    # to YAML into an in-memory store after every change (each data source, asset and
    # docs site added): ~30 ms per suite, growing with its assets, for a copy nothing
    # reads (the context reads its config object). Skipped for this context only.
    context._save_project_config = _unsaved
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        site_name=f"nir_{suite}",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    source = context.data_sources.add_pandas(f"nir_{suite}")

    outcomes: list[Outcome] = []
    raw_results: list[dict[str, Any]] = []
    for check in checks:
        if not check.expectations:
            continue
        if callable(check.frame):
            check = replace(check, frame=check.frame())
        asset = source.add_dataframe_asset(check.asset)
        batch_def = asset.add_batch_definition_whole_dataframe(f"{check.asset}_whole")
        gx_suite = context.suites.add(gx.ExpectationSuite(name=f"{suite}.{check.asset}"))
        for exp in check.expectations:
            gx_suite.add_expectation(exp)
        vd = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{suite}.{check.asset}", data=batch_def, suite=gx_suite)
        )
        result = vd.run(
            batch_parameters={"dataframe": check.frame},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
        )
        as_dict = result.to_json_dict()
        raw_results.append(as_dict)
        for r in as_dict["results"]:
            outcomes.append(_outcome(suite, check.asset, r, _describer(check)))

    summary = SuiteResult(suite, snapshot, run_at, outcomes)
    try:
        # GX's Data Docs cost seconds per suite (Jinja templates compiled per page): rendered
        # when someone needs to read them, i.e. when the suite failed (or always, by setting)
        if settings.gx_data_docs == "always" or not summary.passed:
            context.build_data_docs(site_names=[f"nir_{suite}"])
        summary.docs_path = _results_page(docs_dir, summary)
    except Exception as exc:  # Data Docs are a view; never fail a gate because of them
        logging.getLogger(__name__).warning("data docs for %s not built: %s", suite, exc)
    doc = summary.to_dict() | {"gx_results": raw_results}
    summary.json_path = _write_json(out_dir / f"{suite}.json", doc)
    return summary


def _shown(value: Any, limit: str | None = None) -> str:
    """A value as people read it: a share against a limit in percent (``"5.0%"``) in percent
    with the limit's precision (``"1.7%"``), other numbers to four significant digits."""
    if limit and limit.endswith("%") and _is_number(value):
        decimals = len(limit[:-1].partition(".")[2])
        return f"{float(value) * 100:.{decimals}f}%"
    if _is_number(value) and not float(value).is_integer():
        return f"{float(value):.4g}"
    return str(value)[:80]


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _results_page(docs_dir: Path, summary: SuiteResult) -> Path:
    """A self-contained page linking the suite's GX validation pages, with every outcome.

    GX's own ``index.html`` renders its table with scripts from a CDN, so offline it is blank;
    the validation pages it writes read fine without them. Shares are shown in percent with
    the precision of their limit; failing kommune checks list the kommuner (``detail``).
    """
    from html import escape

    pages = sorted(docs_dir.glob("validations/**/*.html"))
    links = "".join(
        f'<li><a href="{escape(str(p.relative_to(docs_dir)))}">{escape(p.stem)}</a></li>'
        for p in pages
    )
    rows = "".join(
        f"<tr><td>{'ok' if o.success else 'FAILED'}</td><td>{escape(o.severity)}</td>"
        f"<td>{escape(o.asset)}</td><td>{escape(o.label)}</td>"
        f"<td>{escape(_shown(o.observed, o.limit))}</td><td>{escape(o.limit)}</td>"
        f"<td>{escape(o.detail.lstrip(' :='))}</td></tr>"
        for o in summary.outcomes
    )
    verdict = "passed" if summary.passed else "FAILED"
    docs_dir.mkdir(parents=True, exist_ok=True)
    page = docs_dir / "results.html"
    page.write_text(
        "<!doctype html><meta charset='utf-8'>"
        f"<title>{escape(summary.suite)} {escape(summary.snapshot)}</title>"
        "<style>body{font-family:sans-serif;margin:2rem}td,th{border:1px solid #bbb;"
        "padding:.2rem .5rem}table{border-collapse:collapse}</style>"
        f"<h1>Suite {escape(summary.suite)}, snapshot {escape(summary.snapshot)}: {verdict}</h1>"
        f"<p>Run {escape(summary.run_at)}. "
        + (
            f"GX validation pages:</p><ul>{links}</ul>"
            if links
            else "GX's validation pages are rendered when a suite fails (setting "
            "<code>gx_data_docs</code>).</p>"
        )
        + "<table><tr><th>result</th><th>severity</th><th>asset</th><th>expectation</th>"
        f"<th>observed</th><th>limit</th><th>detail</th></tr>{rows}</table>",
        "utf-8",
    )
    return page


def _describer(check: Check) -> Any:
    """Row index -> the row's description (for failure messages), when the check has one."""
    if callable(check.describe):
        return check.describe
    if not check.describe or check.describe not in getattr(check.frame, "columns", ()):
        return None
    return by_position(check.frame[check.describe])


def _outcome(suite: str, asset: str, r: dict[str, Any], describe: Any = None) -> Outcome:
    cfg = r["expectation_config"]
    meta = cfg.get("meta") or {}
    kwargs = cfg.get("kwargs") or {}
    res = r.get("result") or {}
    label = meta.get("label") or f"{cfg['type']}({kwargs.get('column', '')})"
    severity = meta.get("severity", HARD)
    fmt = meta.get("format")
    observed = res.get("observed_value")
    limit, detail = "", ""
    if r.get("exception_info", {}).get("raised_exception"):
        detail = f": error {r['exception_info'].get('exception_message', '')[:120]}"
    elif observed is not None and not isinstance(observed, (list, dict)):
        lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
        if fmt == "share":
            val = f"{float(observed):.1%}"
            lim = f"{float(hi):.1%}" if hi is not None else ""
        else:
            val, lim = str(observed), "" if hi is None else str(hi)
        if not r["success"] and hi is not None and float(observed) > float(hi):
            detail, limit = f" = {val} > {lim}", lim
        elif not r["success"] and lo is not None:
            lo_s = f"{float(lo):.1%}" if fmt == "share" else str(lo)
            detail, limit = f" = {val} < {lo_s}", lo_s
        else:
            detail, limit = f" = {val}", lim
    elif isinstance(observed, list):  # column lists
        expected = kwargs.get("column_set") or kwargs.get("column_list") or []
        extra = sorted(set(observed) - set(expected))
        missing = sorted(set(expected) - set(observed))
        parts = []
        if extra:
            parts.append("unexpected column(s) " + ", ".join(extra))
        if missing:
            parts.append("missing column(s) " + ", ".join(missing))
        detail = ": " + "; ".join(parts) if parts else ""
    elif "unexpected_count" in res:
        n = res.get("unexpected_count") or 0
        # the rows the rule judged: a rule's column is null where it does not apply
        total = (res.get("element_count") or 0) - (res.get("missing_count") or 0)
        sample = res.get("partial_unexpected_list") or []
        index = res.get("partial_unexpected_index_list") or []
        if describe is not None and index:
            sample = [describe(i) for i in index]
        if n:
            eg = ", ".join(str(_jsonable(v)) for v in sample[:3])
            detail = f": {n} of {total} rows" + (f" (e.g. {eg})" if eg else "")
        observed = n
    return Outcome(
        suite=suite,
        asset=asset,
        expectation=cfg["type"],
        label=label,
        severity=severity,
        success=bool(r["success"]),
        observed=observed,
        limit=limit,
        detail=detail,
    )


def _jsonable(v: Any) -> Any:
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return v.item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _write_json(path: Path, doc: dict[str, Any]) -> Path:
    return atomic_write_text(path, json.dumps(doc, indent=2, default=str, ensure_ascii=False))


# --- the gate's verdict, as data ---------------------------------------------------------------
def record_outcomes(
    settings: Settings, snapshot: date, suite: str, outcomes: list[Outcome], run_at: datetime
) -> None:
    """Append one gate run of ``suite`` for ``snapshot`` to ``gate.resultater``.

    The caller holds the warehouse's writer lock. A suite with no outcome records one passed
    row, so that its newest run replaces an earlier failed one.
    """
    record_runs(settings, snapshot, [(suite, outcomes, run_at)])


def record_runs(
    settings: Settings, snapshot: date, runs: list[tuple[str, list[Outcome], datetime]]
) -> None:
    """:func:`record_outcomes` for several suite runs, in one connection and transaction."""
    from nir.warehouse import connect

    rows = []
    for suite, outcomes, run_at in runs:
        run_id = f"{suite}-{run_at.strftime('%Y%m%dT%H%M%S%f')}"
        at = run_at.replace(tzinfo=None)
        rows += [
            (
                snapshot,
                run_id,
                at,
                suite,
                o.label[:200],
                o.severity,
                bool(o.success),
                None if o.observed is None else _shown(o.observed),
                o.limit or None,
                o.detail[:300] or None,
            )
            for o in outcomes
        ] or [(snapshot, run_id, at, suite, suite, HARD, True, None, None, None)]
    con = connect(settings)
    try:
        ensure_results_table(con)
        con.begin()  # both suites' rows or neither
        con.executemany(f"insert into {RESULTS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.commit()
    finally:
        con.close()


def verdicts(settings: Settings) -> list[dict[str, Any]]:
    """Each judged snapshot's verdict (the publishing layer's view of gate.resultater)."""
    from nir.warehouse import connect

    if not settings.warehouse.exists():
        return []
    con = connect(settings, read_only=True)
    try:
        if not _has_relation(con, "staging", "stg_gate__verdikt"):
            return []
        rows = con.execute(
            "select snapshot_date, bestatt, siste_kjoring from staging.stg_gate__verdikt "
            "order by snapshot_date"
        ).fetchall()
        failures = con.execute(
            """select snapshot_date, suite, sjekk, alvorlighet, observert, grense, detalj
               from staging.stg_gate__gjeldende where not bestatt
               order by snapshot_date, alvorlighet, suite, sjekk"""
        ).fetchall()
    finally:
        con.close()
    out = []
    for snap, passed, at in rows:
        fails = [f for f in failures if f[0] == snap]
        out.append(
            {
                "snapshot": snap.isoformat(),
                "passed": bool(passed),
                "run_at": at.isoformat(timespec="seconds") if at else None,
                "hard_failures": [_line(f) for f in fails if f[3] == HARD],
                "warnings": [_line(f) for f in fails if f[3] != HARD],
            }
        )
    return out


def _line(f: tuple) -> str:
    _, _suite, sjekk, sev, _observed, _limit, detail = f
    return f"{sjekk}{detail or ''} ({sev})"


def _has_relation(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def verdict(settings: Settings, snapshot: date) -> dict[str, Any] | None:
    """The gate's newest verdict on ``snapshot``, or None when it was never judged."""
    for v in verdicts(settings):
        if v["snapshot"] == snapshot.isoformat():
            return v
    return None


def failure_message(snapshot: str, failures: list[Outcome], what: str = "gate") -> str:
    parts = "; ".join(o.line() for o in failures[:6])
    more = f"; and {len(failures) - 6} more" if len(failures) > 6 else ""
    return f"{what} failed for {snapshot}: {parts}{more}"


def run_gate(settings: Settings, snapshot: date) -> dict[str, Any]:
    """Run the completeness suite and the marts suite (sums before disclosure control).

    Writes every check's outcome to ``gate.resultater`` (what publishing and ``nir status``
    read; GX's Data Docs are the human view) and raises :class:`GateFailed` naming every
    failed hard expectation.
    """
    from nir_expectations import completeness, marts

    from nir.warehouse import connect, held_open, writer_lock

    snap = snapshot.isoformat()
    # the lock keeps writers (load, dbt, publish) out from reading the frames to recording
    # the outcomes; one open of the file for both
    with writer_lock(settings), held_open(settings):
        con = connect(settings, read_only=True)
        try:
            frozen = _frozen_years(con, snapshot)
            c_checks = completeness.build(con, settings, snapshot, exclude_years=frozen)
            m_checks = marts.build(con, settings, snapshot)
        finally:
            con.close()
        results = [
            run_suite(settings, "completeness", snap, c_checks),
            run_suite(settings, "marts", snap, m_checks),
        ]
        record_runs(settings, snapshot, [(r.suite, r.outcomes, r.started) for r in results])
    failures = [o for r in results for o in r.hard_failures]
    record = {
        "snapshot": snap,
        "passed": not failures,
        "message": failure_message(snap, failures) if failures else f"gate passed for {snap}",
        "hard_failures": [o.line() for o in failures],
        "warnings": [o.line() for r in results for o in r.warnings],
        "docs": {r.suite: str(r.docs_path) for r in results if r.docs_path},
    }
    if failures:
        raise GateFailed(record["message"])
    return record


def _frozen_years(con: duckdb.DuckDBPyConnection, snapshot: date) -> set[int]:
    """Years frozen from another snapshot: their completeness no longer decides anything."""
    if not _has_relation(con, "publisering", "endelige_aar"):
        return set()
    rows = con.execute(
        "select aar from publisering.endelige_aar where snapshot_date <> ?", [snapshot]
    ).fetchall()
    return {int(r[0]) for r in rows}


def validate_publication(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    snapshot: date,
    catalog: dict[str, Any],
    audit: Any,
    schema: str = "statistikk",
) -> SuiteResult:
    """Validate a statistics database after disclosure control; raise if a hard check fails.

    ``audit`` is the independent audit's findings as a DataFrame (``celle``, ``primaer``,
    ``melding``), or a function returning them: called after the other checks have run, so
    the audit can run beside them. The outcomes are recorded in ``gate.resultater`` as suite
    ``avsloringskontroll``, so a rejected publication also rejects the snapshot's verdict.
    The caller holds the warehouse's writer lock.
    """
    from nir_expectations import publication

    checks = publication.build(con, settings, catalog, audit, schema=schema)
    result = run_suite(settings, "avsloringskontroll", snapshot.isoformat(), checks)
    record_outcomes(settings, snapshot, result.suite, result.outcomes, result.started)
    if not result.passed:
        raise PublicationRejected(
            failure_message(snapshot.isoformat(), result.hard_failures, "publication audit")
        )
    return result
