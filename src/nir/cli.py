"""The `nir` command line. Thin: parses options, calls the package, prints one-line errors.

Each command lives in its own section below; keep them thin and put logic in the package.
"""

from __future__ import annotations

import gc
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nir.config import ConfigError, Settings, load_settings
from nir.errors import NirError

app = typer.Typer(
    name="nir",
    help="Statistics pipeline for the national introduction register (NIR).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def settings() -> Settings:
    return load_settings()


def parse_snapshot(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


class SnapshotUnknown(NirError):
    """A command named a snapshot the warehouse never loaded (or never built)."""

    exit_code = 2


def require_snapshot(cfg: Settings, snap: date, *, built: str | None = None) -> None:
    """Raise :class:`SnapshotUnknown` (one line) unless ``snap`` was loaded into the warehouse
    and, with ``built`` (a marts table), built by dbt. The same check for every command that
    takes a snapshot, so none of them runs on nothing or reports figures of another snapshot.
    A busy warehouse is left to the command itself (it waits for the writer lock)."""
    from nir.errors import WarehouseBusyError
    from nir.warehouse import connect

    if not cfg.warehouse.exists():
        raise SnapshotUnknown(
            f"snapshot {snap} was never loaded: the warehouse {_rel(cfg, cfg.warehouse)} does "
            "not exist yet; load its delivery first (nir load <delivery>)"
        )
    try:
        con = connect(cfg, read_only=True, timeout=0)
    except WarehouseBusyError:
        return
    try:
        tables = {
            f"{a}.{b}"
            for a, b in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        loaded: list[date] = []
        if "raw.leveranser" in tables:
            loaded = [
                r[0]
                for r in con.execute(
                    "select snapshot_date from raw.leveranser order by 1"
                ).fetchall()
            ]
        if snap not in loaded:
            have = (
                f"loaded: {loaded[0]}..{loaded[-1]}, {len(loaded)} snapshot(s)"
                if loaded
                else "nothing is loaded"
            )
            raise SnapshotUnknown(
                f"snapshot {snap} was never loaded ({have}); load its delivery first "
                f"(nir load {_rel(cfg, cfg.landing / snap.isoformat())})"
            )
        if built:
            rows = 0
            if built in tables:
                rows = con.execute(
                    f"select count(*) from {built} where snapshot_date = ?", [snap]
                ).fetchone()[0]
            if not rows:
                raise SnapshotUnknown(
                    f"snapshot {snap} was loaded but never built ({built} has no rows for it); "
                    f"build it first (nir build {snap})"
                )
    finally:
        con.close()


def _rel(cfg: Settings, path: Path) -> str:
    """``path`` relative to the current directory when it is below it, else as it is."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --- load (foundation) ----------------------------------------------------------------------
_ACCEPT_ANOMALY = typer.Option(
    "--accept-anomaly",
    help="Load a delivery even if it is empty, dated after today or far smaller than the "
    "previous snapshot (it is held otherwise)",
)


@app.command()
def load(
    delivery: Annotated[Path, typer.Argument(help="Delivery folder <landing>/<YYYY-MM-DD>/")],
    accept_anomaly: Annotated[bool, _ACCEPT_ANOMALY] = False,
) -> None:
    """Check a delivery against the contract and load it into the warehouse (all or nothing)."""
    from nir.delivery.load import load_delivery

    result = load_delivery(settings(), delivery, accept_anomaly=accept_anomaly)
    console.print(f"{result.snapshot_date}: {result.outcome} ({result.message})")


@app.command()
def check(
    delivery: Annotated[Path, typer.Argument(help="Delivery folder <landing>/<YYYY-MM-DD>/")],
    accept_anomaly: Annotated[bool, _ACCEPT_ANOMALY] = False,
) -> None:
    """Check a delivery against its manifest and the contract, without loading it."""
    from nir.delivery.load import review

    problems, anomalies = review(settings(), delivery)
    if problems:
        for p in problems:
            err.print(str(p), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(3)
    if anomalies and not accept_anomaly:
        for reason in anomalies:
            err.print(f"held: {reason}", markup=False, highlight=False, soft_wrap=True)
        err.print(
            "the delivery follows the contract but would be held; if it is genuine, load it "
            "with --accept-anomaly",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(3)
    console.print(f"{delivery}: follows contract version 1", markup=False, highlight=False)


# --- generate (synthetic deliveries) ------------------------------------------------------------
@app.command()
def generate(
    out: Annotated[
        Path | None, typer.Option(help="Landing folder to write into [default: the landing area]")
    ] = None,
    persons: Annotated[int, typer.Option(min=1, help="Persons in the whole history")] = 80_000,
    from_: Annotated[
        str, typer.Option("--from", help="First reference period YYYY-MM")
    ] = "2021-01",
    to: Annotated[str, typer.Option("--to", help="Last reference period YYYY-MM")] = "2024-12",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes)")] = 1,
    daily: Annotated[
        int, typer.Option(min=0, help="Daily deliveries after the last monthly one")
    ] = 5,
    defect: Annotated[
        list[str] | None,
        typer.Option(help="Defect rate NAME=RATE, repeatable (e.g. ukjent_kommune=0.1)"),
    ] = None,
) -> None:
    """Write synthetic NIR deliveries (monthly, then daily) that follow the export contract."""
    from rich.progress import Progress

    from nir.periods import PeriodError
    from nir.tools.generate import DefectRates
    from nir.tools.generate import generate as run_generate

    try:
        defects = DefectRates().with_overrides(defect or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--defect") from exc
    target = out or settings().landing
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("simulating the register", total=None)

        def step(folder: Path, done: int, total: int) -> None:
            progress.update(task, total=total, completed=done, description=f"wrote {folder.name}")

        try:
            folders = run_generate(
                target, persons=persons, start=from_, end=to, seed=seed, daily=daily,
                defects=defects, on_delivery=step,
            )  # fmt: skip
        except PeriodError as exc:
            raise typer.BadParameter(str(exc)) from exc
    console.print(
        f"wrote {len(folders)} deliveries to {target} ({folders[0].name}..{folders[-1].name})"
    )


# --- seeds + build (dbt) --------------------------------------------------------------------
@app.command()
def seeds(
    check: Annotated[
        bool, typer.Option("--check", help="Only report whether the committed seeds are current")
    ] = False,
) -> None:
    """Export the dbt seeds (code lists, kommune classification) from the contracts in code."""
    from nir.warehouse.seeds import render_seeds, seeds_dir, write_seeds

    project = settings().dbt_project_dir
    if check:
        folder = seeds_dir(project)
        stale = [
            n
            for n, text in render_seeds().items()
            if not (folder / n).exists() or (folder / n).read_text("utf-8") != text
        ]
        if stale:
            err.print(f"stale seeds: {', '.join(stale)}; run `nir seeds`", markup=False)
            raise typer.Exit(1)
        console.print("seeds are current")
        return
    changed = write_seeds(project)
    console.print(f"wrote {len(changed)} changed seed file(s) into {seeds_dir(project)}")


@app.command()
def build(
    snapshot: Annotated[
        str | None, typer.Argument(help="Snapshot date YYYY-MM-DD", show_default=False)
    ] = None,
    controls_only: Annotated[
        bool, typer.Option("--controls-only", help="Build only what the control lists need")
    ] = False,
    snapshot_option: Annotated[
        str | None, typer.Option("--snapshot", hidden=True, help="Same as the argument")
    ] = None,
) -> None:
    """Run dbt for one snapshot (staging -> intermediate -> marts -> publisering)."""
    from nir.warehouse.dbt import build as dbt_build

    given = [v for v in (snapshot, snapshot_option) if v is not None]
    if len(given) != 1:
        raise typer.BadParameter("give the snapshot once: nir build YYYY-MM-DD")
    day = parse_snapshot(given[0])
    cfg = settings()
    require_snapshot(cfg, day)
    dbt_build(cfg, day, controls_only=controls_only)
    console.print(f"{day}: built")


# --- demo + backfill (Airflow on the embedded default) ----------------------------------------
def _run_dags(cfg: Settings, requests: list) -> list:
    """Run DAG runs under Airflow with a progress display; one line per finished run."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from nir.orchestration import embedded as orchestrate

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("preparing Airflow (db migrate, pool)", total=len(requests))
        orchestrate.prepare(cfg)
        progress.update(bar, description="starting the Airflow worker")

        def on_event(event: dict) -> None:
            index = event["index"]
            if index < 0:
                return
            r = requests[index]
            name = f"{r.dag_id} {r.label}"
            if event["event"] == "run-start":
                progress.update(bar, description=name)
            elif event["event"] == "task":
                progress.update(bar, description=f"{name} · {event['task_id']}")
            elif event["event"] == "run-end":
                o = event["outcome"]
                progress.advance(bar)
                if o.ok:
                    progress.console.print(f"[green]✓[/] {name} ({o.seconds:.0f} s)")
                else:
                    where = ", ".join(o.failed_tasks) or o.state
                    progress.console.print(
                        f"[red]✗[/] {name} {o.state} at {where}: {o.error or ''}",
                        markup=True,
                        highlight=False,
                    )

        outcomes = orchestrate.run(cfg, requests, on_event)
    total = sum(o.seconds for o in outcomes)
    overhead = (total - sum(o.task_seconds for o in outcomes)) / max(len(outcomes), 1)
    console.print(
        f"{len(outcomes)} DAG run(s) in {total:.0f} s; Airflow's own overhead "
        f"≈ {overhead:.1f} s per run",
        highlight=False,
    )
    return outcomes


def _report_failures(cfg: Settings, outcomes: list) -> None:
    from nir.orchestration import embedded as orchestrate

    failed = [o for o in outcomes if not o.ok]
    if failed:
        err.print(
            f"error: {len(failed)} of {len(outcomes)} DAG run(s) failed; task logs: "
            f"{orchestrate.run_log(cfg)}",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)


@app.command()
def backfill(
    from_: Annotated[str, typer.Option("--from", help="First reference period YYYY-MM")],
    to: Annotated[str, typer.Option("--to", help="Last reference period YYYY-MM")],
    reverse: Annotated[
        bool, typer.Option("--reverse", help="Newest period first (the result is the same)")
    ] = False,
) -> None:
    """Run the nir_monthly DAG under Airflow for each period (its monthly snapshot)."""
    from nir import periods
    from nir.orchestration import embedded as orchestrate

    cfg = settings()
    try:
        snapshots = periods.snapshots_for_periods(from_, to)
    except periods.PeriodError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if reverse:
        snapshots.reverse()
    missing = orchestrate.missing_deliveries(cfg, snapshots)
    if missing:
        err.print(
            f"error: no complete delivery for {', '.join(map(str, missing))} in {cfg.landing}: "
            "put the exports there (or `nir generate`) and run again",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2)
    outcomes = _run_dags(cfg, orchestrate.monthly_requests(snapshots))
    _report_failures(cfg, outcomes)
    console.print(f"published statistics: {cfg.published_db}")


@app.command()
def demo(
    persons: Annotated[int, typer.Option(min=1, help="Persons in the synthetic register")] = 2000,
    from_: Annotated[str, typer.Option("--from", help="First reference period")] = "2023-01",
    to: Annotated[str, typer.Option("--to", help="Last reference period")] = "2024-03",
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic exports")] = 1,
) -> None:
    """Synthetic exports -> the real DAGs under Airflow -> published statistics."""
    from rich.table import Table

    from nir import periods
    from nir import status as status_module
    from nir.kommune.tracker import siste_aar
    from nir.orchestration import embedded as orchestrate
    from nir.tools.generate import DEMO_CORRECTION, correction_nights, delivery_plan
    from nir.tools.generate import generate as run_generate

    cfg = settings()
    try:
        # nightly deliveries in the weeks before the last deadline covered, as in production
        nights = correction_nights(from_, to)
        plan = delivery_plan(from_, to, seed=seed, daily=nights)
    except periods.PeriodError as exc:
        raise typer.BadParameter(str(exc)) from exc
    monthly = [d.snapshot_date for d in plan if d.kind == "monthly"]
    daily = [d.snapshot_date for d in plan if d.kind == "daily"]
    if orchestrate.missing_deliveries(cfg, monthly + daily):
        with console.status(f"generating synthetic exports ({persons} persons)"):
            run_generate(
                cfg.landing, persons=persons, start=from_, end=to, seed=seed, daily=nights,
                correction=DEMO_CORRECTION,
            )  # fmt: skip
    first, last = plan[0].snapshot_date, plan[-1].snapshot_date
    console.print(f"{len(plan)} deliveries in {cfg.landing} ({first}..{last})")
    outcomes = _run_dags(cfg, orchestrate.demo_requests(cfg, monthly, daily))

    table = Table(title=f"Published statistics, national ({cfg.published_db})")
    for col in ("år", "status", "snapshot", "deltakere", "nye", "avsluttede", "direkte overgang"):
        table.add_column(col, justify="left" if col in ("status", "snapshot") else "right")
    for row in status_module.published_figures(cfg):
        share = row["andel_direkte_overgang"]
        table.add_row(
            str(row["aar"]),
            str(row["status"]),
            str(row["snapshot_date"]),
            *(str(row[c]) for c in ("deltakere", "nye_deltakere", "avsluttede")),
            "" if share is None else f"{share:.1%}",
        )
    console.print(table)
    docs = cfg.data_dir / "docs" / "index.html"  # dbt's docs and the gate's pages
    paths = [
        f"published database: {cfg.published_db}",
        f"  as Parquet:       {cfg.published_dir / 'parquet'}",
        f"  as JSON-stat:     {cfg.published_dir / 'jsonstat'}",
        f"docs (offline):     {docs if docs.exists() else '-'}",
        f"control lists:      {cfg.kontroll_dir}",
        f"kommune packs:      {cfg.kontroll_dir / 'lister' / plan[-1].snapshot_date.isoformat()}"
        "/index.html",
    ]
    tracker_year = siste_aar(cfg)
    tracker = cfg.kontroll_dir / "sporing" / str(tracker_year) / f"sporing_{tracker_year}.html"
    paths += [
        f"IMDi tracker:       {tracker if tracker.exists() else '-'}",
        f"Airflow (SQLite):   {orchestrate.airflow_home(cfg)}",
    ]
    for line in paths:  # paths are never wrapped, so they can be copied
        console.print(line, soft_wrap=True, highlight=False)
    _report_failures(cfg, outcomes)


# --- gate, publish, status, control-lists (write-audit-publish) ------------------------------
@app.command()
def gate(
    snapshot: Annotated[str, typer.Argument(help="Snapshot date YYYY-MM-DD")],
) -> None:
    """Run the completeness and publication suites on a built snapshot (the publication gate)."""
    from nir.gate import run_gate

    cfg, snap = settings(), parse_snapshot(snapshot)
    require_snapshot(cfg, snap, built="marts.fct_programmer")
    record = run_gate(cfg, snap)
    console.print(record["message"], markup=False, highlight=False, soft_wrap=True)
    for w in record["warnings"]:
        console.print(f"  warning: {w}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def publish(
    snapshot: Annotated[str, typer.Argument(help="Snapshot date YYYY-MM-DD")],
) -> None:
    """Write, audit and atomically publish the statistics (needs a passed gate)."""
    from nir.publication.publish import publish as do_publish

    cfg, snap = settings(), parse_snapshot(snapshot)
    require_snapshot(cfg, snap, built="marts.fct_programmer")
    path = do_publish(cfg, snap)
    console.print(f"published {path}", markup=False, highlight=False)


@app.command()
def freeze(
    year: Annotated[int, typer.Argument(help="Reference year to make final")],
) -> None:
    """Freeze a year's final figures (first monthly snapshot after its deadline) and republish."""
    from nir.publication.publish import freeze_final

    snap = freeze_final(settings(), year)
    console.print(f"{year}: final figures frozen from snapshot {snap}")


@app.command()
def revoke(
    snapshot: Annotated[str, typer.Argument(help="Snapshot date YYYY-MM-DD to take back")],
    reason: Annotated[str, typer.Option(help="Why (kept with the gate's verdict)")],
) -> None:
    """Take a published snapshot back: it no longer counts as passed; years frozen from it
    thaw. Then publish the previous snapshot (docs/operations.md)."""
    from nir.publication.publish import revoke as do_revoke

    cfg, snap = settings(), parse_snapshot(snapshot)
    require_snapshot(cfg, snap)
    years = do_revoke(cfg, snap, reason)
    thawed = f"; final figures of {', '.join(map(str, years))} thawed" if years else ""
    console.print(f"{snapshot} taken back{thawed}", markup=False, highlight=False)


@app.command()
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the status as one JSON document")
    ] = False,
    digest: Annotated[
        bool,
        typer.Option(
            "--digest",
            help="Print a SHA-256 per published table instead (equal digests: the same "
            "published figures)",
        ),
    ] = False,
) -> None:
    """What is published, from which snapshot per year, and the last gate results."""
    from nir.status import collect, published_digest, render, to_json

    cfg = settings()
    if digest:
        if not cfg.published_db.exists():
            err.print(f"error: nothing published yet ({cfg.published_db} does not exist)")
            raise typer.Exit(1)
        print(to_json(published_digest(cfg.published_db)))
        return
    doc = collect(cfg)
    if as_json:
        print(to_json(doc))
        return
    console.print(render(doc), markup=False, highlight=False, soft_wrap=True)


@app.command()
def docs(
    snapshot: Annotated[
        str | None,
        typer.Argument(
            help="Snapshot date YYYY-MM-DD for dbt's docs [default: the newest judged one]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write the offline docs under <data>/docs/: dbt's docs as one static page, one gate page
    per snapshot linking the suites' results, and an index."""
    from nir.docs_site import write_docs

    cfg = settings()
    snap = None
    if snapshot is not None:
        snap = parse_snapshot(snapshot)
        require_snapshot(cfg, snap, built="marts.fct_programmer")
    index = write_docs(cfg, snap)
    console.print(f"docs: {_rel(cfg, index)}", markup=False, highlight=False, soft_wrap=True)


@app.command("control-lists")
def control_lists(
    snapshot: Annotated[str, typer.Argument(help="Snapshot date YYYY-MM-DD")],
) -> None:
    """Write the kommuner's control lists and packs (restricted database, CSV and HTML per
    kommune, an index) and, inside a correction window, IMDi's tracker."""
    from nir.kommune.controllists import write_control_lists
    from nir.kommune.tracker import aar_for_snapshot, skriv_sporing

    cfg, snap = settings(), parse_snapshot(snapshot)
    require_snapshot(cfg, snap, built="marts.kontrolliste")
    out = write_control_lists(cfg, snap)
    console.print(f"control lists in {out}", markup=False, highlight=False)
    console.print(f"index of the packs: {out / 'index.html'}", markup=False, highlight=False)
    aar = aar_for_snapshot(cfg, snap)
    if aar is not None:
        sporing = skriv_sporing(cfg, aar)
        console.print(f"tracker {aar}: {sporing}", markup=False, highlight=False)


@app.command()
def tracker(
    aar: Annotated[
        int | None,
        typer.Argument(help="Reference year (default: the newest whose window has snapshots)"),
    ] = None,
) -> None:
    """Write IMDi's tracker for a reference year: every kommune toward the deadline (restricted)."""
    from nir.kommune.tracker import les, siste_aar, skriv_sporing

    cfg = settings()
    year = aar if aar is not None else siste_aar(cfg)
    if year is None:
        console.print(
            "no completeness series yet: run `nir control-lists <snapshot>` (or the DAGs) "
            "for snapshots in a correction window (1 January to the deadline)",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)
    rows = les(cfg, year)
    out = skriv_sporing(cfg, year, rows=rows)
    n = len({r[0] for r in rows})
    console.print(
        f"tracker {year} ({n} snapshots in the window): {out}", markup=False, highlight=False
    )


# --- bench (performance) -----------------------------------------------------------------------
@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="Smoke run: 500 persons, 3 snapshots, 1 repetition")
    ] = False,
    repeat: Annotated[
        int | None, typer.Option(min=1, help="Repetitions of each measurement [default: 3]")
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="PHASE",
            help="Run only this phase (repeatable): national-steps, national-disclosure, "
            "tenfold-steps, tenfold-disclosure, national-monthly-run, backfill, "
            "tenfold-monthly-run; with --quick: steps, disclosure, monthly-run, backfill. "
            "A disclosure phase needs its scale's steps phase run before.",
        ),
    ] = None,
) -> None:
    """Benchmark load, build, gate and the monthly DAG against DuckDB's floor (data/bench/)."""
    from nir.tools.bench import Bench, BenchError, memory_summary, render

    cfg = settings()
    with console.status("nir bench") as status:

        def progress(msg: str) -> None:
            status.update(f"nir bench: {msg}")
            console.log(msg, markup=False, highlight=False)

        runner = Bench(
            cfg,
            repeat=repeat or (1 if quick else 3),
            quick=quick,
            only=tuple(only or ()),
            on_progress=progress,
        )
        try:
            path = runner.run()
        except BenchError as exc:
            err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
    console.print(render(runner.measurements))
    peak, ok = memory_summary(runner.measurements)
    if peak:
        verdict = "[green]met[/]" if ok else "[red]missed[/]"
        console.print(f"peak memory at national scale: {peak / 1024**2:.0f} MB (< 2 GB: {verdict})")
    console.print(f"results: {path} (and latest.json beside it)", markup=False, highlight=False)


# --- reload + rotate-key (pseudonymisation key) ------------------------------------------------
def _print_reload(report) -> None:
    for snap, outcome in sorted(report.reloaded.items()):
        console.print(f"{snap}: {outcome}", highlight=False)
    console.print(
        f"{len(report.reloaded)} deliveries under key {report.key_id}; "
        f"{len(report.rebuilt)} snapshot(s) rebuilt",
        highlight=False,
    )
    if report.stale:
        err.print(
            f"warning: {len(report.stale)} snapshot(s) still carry another key's pseudonyms "
            f"(no delivery in the landing area): {', '.join(map(str, report.stale))}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def reload(
    no_rebuild: Annotated[
        bool, typer.Option("--no-rebuild", help="Only reload; do not run dbt afterwards")
    ] = False,
) -> None:
    """Reload every delivery in the landing area under the current key, rebuild what changed."""
    from nir.delivery.rotate import reload as do_reload

    _print_reload(do_reload(settings(), rebuild=not no_rebuild))


@app.command("rotate-key")
def rotate_key(
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing", help="Rotate even if some loaded snapshots have no delivery left"
        ),
    ] = False,
) -> None:
    """Replace the pseudonym key file by a new random key, then reload and rebuild."""
    from nir.delivery.rotate import new_key_file
    from nir.delivery.rotate import reload as do_reload

    cfg = settings()
    kid = new_key_file(cfg, allow_missing=allow_missing)
    console.print(f"new pseudonym key {kid} written", highlight=False)
    _print_reload(do_reload(cfg))


def main() -> None:
    code = _run()
    if code:
        # Leave with nothing of the failed command alive: SystemExit raised inside the
        # ``except`` would carry the error, its traceback and every frame's objects (pyarrow
        # tables of the contract check) into interpreter shutdown, where freeing them after
        # Arrow's own teardown aborted the process now and then ("terminate called without
        # an active exception", exit -6 instead of the command's code).
        gc.collect()
        sys.exit(code)


def _run() -> int:
    """Run the command; a failure is one line on stderr and its exit code."""
    try:
        app()
    except (NirError, ConfigError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return getattr(exc, "exit_code", 2)
    except Exception as exc:  # a bug or an unforeseen state: one line, never a traceback
        import os
        import traceback

        if os.environ.get("NIR_TRACEBACK"):
            raise
        from nir.errors import scrub

        where = traceback.extract_tb(exc.__traceback__)[-1]
        err.print(
            f"error: unexpected {type(exc).__name__} in {Path(where.filename).name}:"
            f"{where.lineno}: {scrub(str(exc))} (rerun with NIR_TRACEBACK=1 for the details)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return 0


if __name__ == "__main__":
    main()
