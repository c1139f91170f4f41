"""Run the dbt project for one snapshot.

dbt runs in this process through its programmatic runner (imported once per worker), and
dbt-duckdb's DuckDB instance is closed after every command, because dbt-duckdb otherwise keeps
the file locked after dbt returns (stack-notes); setting ``dbt_in_process = false`` runs each
command as a subprocess. Its target/ and logs/ go under ``settings.data_dir / "dbt"`` so the
repository stays clean and two data dirs never collide. The statistics rules' thresholds are
passed as dbt vars from :class:`nir.config.Settings` (``dbt_project.yml`` only holds the same
defaults); the snapshot goes through ``NIR_SNAPSHOT`` (:mod:`nir.warehouse.dbt_session`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from nir import faults
from nir.config import Settings
from nir.errors import NirError, WarehouseBusyError
from nir.files import atomic_write_text

# What the nightly (daily snapshot) run needs: the control list, the spells with their
# error flag, and the completeness figures.
CONTROLS_SELECTOR = "+kontrolliste +fct_deltakelser +fct_registreringskvalitet int_regioner"
# The seeds the staging models' checks read (code lists): selected with CONTROLS_SELECTOR so
# that cautious indirect selection keeps those checks (seeds are never rebuilt by a build).
CHECKED_SEEDS = "kodelister avslutningsaarsaker sluttmaal tiltakskoder kontroller"
# The publishing layer and the gate's verdicts: built after the gate (build_publishing), over
# every passed snapshot, never as part of one snapshot's build.
PUBLISHING = ["path:models/publisering", "path:models/staging/gate"]
# Models built from the project alone (tables of seeds, views): built again only when the
# project changes (_static_built); their checks run when they are built.
STATIC = "tag:static"
# Every build: quiet, and no relation cache filled up front. dbt would list every schema of
# the project first (~0.1 s of a demo-scale build, whatever is selected); the project's
# materializations look up the one relation they write as they reach it (a catalog query).
BUILD_FLAGS = ["--quiet", "--no-populate-cache"]


class TransformError(NirError):
    """dbt failed for a snapshot: a model or test failed. Fix the data or the model, then rerun."""

    exit_code = 5


def dbt_vars(settings: Settings) -> dict[str, object]:
    """The dbt vars: every rule threshold from the settings.

    They change only with the settings, so dbt's partial parsing survives between runs (a
    changed var makes dbt parse the whole project again). The snapshot being built is not a
    var: it goes to the models through ``NIR_SNAPSHOT`` (:mod:`nir.warehouse.dbt_session`).
    """
    return {
        "suppression_threshold": settings.suppression_threshold,
        "min_share_denominator": settings.min_share_denominator,
        "chain_gap_days": settings.chain_gap_days,
        "registration_grace_months": settings.registration_grace_months,
        "annual_deadline_month": settings.annual_deadline_month,
        "annual_deadline_day": settings.annual_deadline_day,
    }


def dbt_dir(settings: Settings) -> Path:
    return settings.data_dir / "dbt"


def dbt_log(settings: Settings) -> Path:
    return dbt_dir(settings) / "logs" / "dbt.log"


def _dbt_environ(settings: Settings, snapshot: date | None) -> dict[str, str | None]:
    """The environment dbt runs with (``None``: unset): warehouse, folders and snapshot."""
    return {
        "NIR_SNAPSHOT": snapshot.isoformat() if snapshot is not None else None,
        "NIR_WAREHOUSE": str(settings.warehouse.resolve()),
        "DBT_PROFILES_DIR": str(settings.dbt_project_dir),
        "DBT_PROJECT_DIR": str(settings.dbt_project_dir),
        "DBT_TARGET_PATH": str(dbt_dir(settings) / "target"),
        "DBT_LOG_PATH": str(dbt_dir(settings) / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
        "DBT_PRINTER_WIDTH": "120",
    }


def _env(settings: Settings, snapshot: date | None) -> dict[str, str]:
    """This process's environment with :func:`_dbt_environ` applied (for a dbt subprocess)."""
    env = dict(os.environ)
    _apply(env, _dbt_environ(settings, snapshot))
    return env


def _dbt_executable() -> list[str]:
    script = Path(sys.executable).parent / "dbt"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from dbt.cli.main import cli; cli()"]


# dbt's programmatic invocations must not overlap in one process (dbt's docs)
_IN_PROCESS = threading.Lock()


def _apply(env: dict[str, str] | os._Environ, values: dict[str, str | None]) -> None:
    """Set each of ``values`` in ``env``; ``None`` unsets."""
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value


@contextmanager
def _environ(values: dict[str, str | None]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    try:
        _apply(os.environ, values)
        yield
    finally:
        _apply(os.environ, saved)


# Commands whose JSON artifacts (manifest.json, run_results.json) nothing reads when dbt runs in
# this process: the outcome is read from dbtRunner's result, and writing the manifest costs
# ~0.25 s an invocation (parse and docs keep writing theirs: they are read).
_NO_ARTIFACTS = {"build", "run", "test", "seed"}


def _invoke_in_process(
    settings: Settings, args: list[str], snapshot: date | None
) -> tuple[str, list[dict] | None]:
    """Run dbt in this process (dbt's programmatic runner); returns "" or the error text, and
    the nodes' results (``run_results.json``'s ``results``) when dbt got as far as running them.

    Importing dbt costs seconds; a worker or test process that builds many snapshots pays it
    once, and dbt's parse of the project once per project (:func:`_parsed`). dbt-duckdb keeps
    its DuckDB instance after a run (dbt-duckdb #616): it is closed here, so the file is free
    for other processes as soon as dbt returns.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    with _IN_PROCESS, _environ(_dbt_environ(settings, snapshot)):
        try:
            # console logging off, the log file at the settings' level (dbt's --log-level
            # sets both unless --log-level-file is given): failures are reported by nir in
            # one line, from the nodes' results, and the log is where an engineer reads on
            flags = ["--log-level", "none", "--log-level-file", settings.dbt_log_level]
            manifest = None
            if args[0] in _NO_ARTIFACTS:
                flags.append("--no-write-json")
                manifest = _parsed(settings, args, flags)
            result = dbtRunner(manifest=manifest).invoke([*args, *flags])
        finally:
            env = DuckDBConnectionManager._ENV
            DuckDBConnectionManager._ENV = None
            if env is not None:
                env.close()
    if result.success:
        return "", None
    return str(result.exception or "dbt reported a failure"), _node_results(result.result)


# dbt's parsed project in this process: (key, dbt's Manifest) of the last parse, see _parsed
_manifest: tuple[str, object] | None = None


def _parsed(settings: Settings, args: list[str], flags: list[str]) -> object | None:
    """dbt's parsed project for ``args`` (its ``--project-dir`` and ``--vars``), parsed once per
    process and project: every dbt command otherwise parses the project again (with partial
    parsing ~0.15 s of each build at any scale, twice a month; without, in a new data folder,
    ~3-5 s). Kept under the project's key (dbt's version, the vars, every file: a changed
    model is parsed again), the vars given, the project's folder and the warehouse file's
    name, which is the models' database (dbt-duckdb's default): the parse holds no path of
    the data folder (the profile, the target folder and the snapshot are read again by every
    command), so warehouses of one name in other folders share it (tests/test_dbt.py). None
    when the parse fails: the command then parses itself and reports the error. Call with
    ``_IN_PROCESS`` held."""
    global _manifest
    from dbt.cli.main import dbtRunner

    given = args[args.index("--vars") + 1] if "--vars" in args else ""
    where = f"{settings.dbt_project_dir.resolve()}|{settings.warehouse.stem}"
    key = f"{project_key(settings)}|{given}|{where}"
    if _manifest is not None and _manifest[0] == key:
        return _manifest[1]
    project = ["--project-dir", args[args.index("--project-dir") + 1]]
    vars_ = ["--vars", given] if given else []
    result = dbtRunner().invoke(["parse", "--quiet", *project, *vars_, *flags])
    if not result.success or result.result is None:
        return None
    _manifest = (key, result.result)
    return result.result


def _node_results(result: object) -> list[dict] | None:
    """The per-node results of a dbt run, as ``run_results.json`` would list them."""
    nodes = getattr(result, "results", None)
    if not isinstance(nodes, list):
        return None
    out = []
    for r in nodes:
        node = getattr(r, "node", None)
        status = getattr(r, "status", None)
        out.append(
            {
                "unique_id": getattr(node, "unique_id", "?"),
                "status": str(getattr(status, "value", status)),
                "message": getattr(r, "message", None),
                "compiled_code": getattr(node, "compiled_code", None),
            }
        )
    return out


def _invoke_subprocess(settings: Settings, args: list[str], snapshot: date | None) -> str:
    proc = subprocess.run(
        [*_dbt_executable(), *args, "--log-level-file", settings.dbt_log_level],
        env=_env(settings, snapshot),
        capture_output=True,
        text=True,
        cwd=settings.dbt_project_dir,
    )
    if proc.returncode < 0:  # dbt killed by a signal (OOM, shutdown): retry
        raise _DbtKilled(proc.returncode)
    return "" if proc.returncode == 0 else (proc.stdout + proc.stderr or "dbt failed")


class _DbtKilled(Exception):
    pass


def run_dbt(
    settings: Settings, args: list[str], *, what: str, snapshot: date | None = None
) -> None:
    """Run ``dbt <args>`` for the settings' warehouse; raise a one-line error on failure.

    ``snapshot`` is the snapshot the models and tests see (``NIR_SNAPSHOT``); the settings'
    thresholds are always passed as vars. dbt runs in this process unless the setting
    ``dbt_in_process`` is off (then in a subprocess, as a separate program).
    """
    dbt_dir(settings).mkdir(parents=True, exist_ok=True)
    # a stale run_results.json must not be mistaken for this run's failure
    (dbt_dir(settings) / "target" / "run_results.json").unlink(missing_ok=True)
    full = [*args, "--project-dir", str(settings.dbt_project_dir)]
    if "--vars" not in args:
        full += ["--vars", json.dumps(dbt_vars(settings))]
    log_start = _log_size(settings)
    results = None
    try:
        if settings.dbt_in_process:
            output, results = _invoke_in_process(settings, full, snapshot)
        else:
            output = _invoke_subprocess(settings, full, snapshot)
    except _DbtKilled:
        err = TransformError(f"{what} failed: dbt was killed by a signal (see {dbt_log(settings)})")
        err.transient = True
        raise err from None
    if not output:
        return
    this_run = output + _log_since(settings, log_start)
    if re.search(r"Could not set lock on file|Conflicting lock", this_run):
        raise WarehouseBusyError(
            f"{what}: the warehouse {settings.warehouse} is in use by another process; "
            "retry when it is free"
        )
    raise TransformError(f"{what} failed: {_first_failure(settings, output, results, snapshot)}")


def _log_size(settings: Settings) -> int:
    try:
        return dbt_log(settings).stat().st_size
    except OSError:
        return 0


def _log_since(settings: Settings, start: int, limit: int = 200_000) -> str:
    """What this dbt command wrote to dbt's log (where an in-process run's errors are)."""
    try:
        with open(dbt_log(settings), "rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            f.seek(start if start <= end else 0)  # a rotated log starts again at 0
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _first_failure(
    settings: Settings,
    output: str,
    results: list[dict] | None = None,
    snapshot: date | None = None,
) -> str:
    """One line naming the failing node, pointing at the dbt log; ``results``: the nodes'
    results (read from ``run_results.json`` when not given). A failing ``checks`` test (all
    of a model's checks in one node) is named with the checks that failed."""
    log = dbt_log(settings)
    try:
        if results is None:
            path = dbt_dir(settings) / "target" / "run_results.json"
            results = json.loads(path.read_text("utf-8")).get("results", [])
        for r in results:
            if r.get("status") in ("error", "fail", "runtime error"):
                msg = [m.strip() for m in (r.get("message") or "").splitlines() if m.strip()]
                first = " ".join(msg[:3]) if msg else r["status"]
                if r.get("status") == "fail" and r.get("compiled_code"):
                    first += _failed_checks(settings, r["compiled_code"], snapshot)
                return f"{r['unique_id']} ({r['status']}): {first[:600]} (see {log})"
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    lines = [re.sub(r"^(\x1b\[0m)?\d\d:\d\d:\d\d\s+", "", ln).strip() for ln in output.splitlines()]
    lines = [ln for ln in lines if ln]
    for i, line in enumerate(lines):
        if "error" in line.lower():
            return f"{' '.join(lines[i : i + 3])[:400]} (see {log})"
    return f"dbt exited with an error (see {log})"


def _failed_checks(settings: Settings, sql: str, snapshot: date | None) -> str:
    """The checks a failed ``checks`` test found (its rows: ``sjekk``, ``verdi``, ``antall``),
    as ``: <check> (<values>), ...``, read again from the warehouse; "" when they cannot be
    read (another test, the warehouse busy): the message then stands without them."""
    import duckdb

    from nir.warehouse import connect
    from nir.warehouse.dbt_session import set_snapshot

    try:
        con = connect(settings, read_only=True, timeout=0)
    except (NirError, OSError, duckdb.Error):
        return ""
    try:
        if snapshot is not None:
            set_snapshot(con, snapshot)
        rows = con.execute(
            "select sjekk, string_agg(coalesce(verdi, '') || case when antall > 1 "
            "then ' x' || antall else '' end, ', ' order by antall desc, verdi) "
            f"filter (where verdi is not null), sum(antall) from ({sql}) "
            "group by sjekk order by sjekk"
        ).fetchall()
    except duckdb.Error:
        return ""
    finally:
        con.close()
    found = [f"{sjekk} ({(values or f'{n} rows')[:80]})" for sjekk, values, n in rows]
    return ": " + "; ".join(found) if found else ""


def _seed_fingerprint(settings: Settings) -> str:
    h = hashlib.sha256()
    h.update(str(settings.warehouse.resolve()).encode())
    seeds = settings.dbt_project_dir / "seeds"
    for path in sorted(seeds.glob("*")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _seed_marker(settings: Settings) -> Path:
    return dbt_dir(settings) / "seeds.sha256"


def _relations(settings: Settings) -> dict[str, str]:
    """The warehouse's relations: ``schema.name`` -> ``BASE TABLE`` or ``VIEW`` (none when
    the file cannot be opened). Inside :func:`nir.warehouse.held_open`, through its open."""
    import duckdb

    from nir.warehouse import connect

    try:
        con = connect(settings, read_only=True, timeout=0)
    except (duckdb.Error, NirError, OSError):
        return {}
    try:
        rows = con.execute(
            "select table_schema || '.' || table_name, table_type from information_schema.tables"
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def _seeds_loaded(settings: Settings, relations: dict[str, str]) -> bool:
    """Whether every seed table is among the warehouse's ``relations`` (schema ``referanse``)."""
    expected = {f"referanse.{p.stem}" for p in (settings.dbt_project_dir / "seeds").glob("*.csv")}
    return expected <= relations.keys()


def seed(
    settings: Settings,
    snapshot: date,
    *,
    force: bool = False,
    relations: dict[str, str] | None = None,
) -> bool:
    """Load the seeds into schema ``referanse`` when they changed or are missing.

    ``relations``: the warehouse's, when the caller has read them (:func:`_relations`). The
    caller holds the warehouse's writer lock (:func:`nir.warehouse.writer_lock`).
    """
    marker = _seed_marker(settings)
    fingerprint = _seed_fingerprint(settings)
    if (
        not force
        and marker.exists()
        and marker.read_text() == fingerprint
        and _seeds_loaded(settings, _relations(settings) if relations is None else relations)
    ):
        return False
    run_dbt(settings, ["seed", "--full-refresh", "--quiet"], what="dbt seed", snapshot=snapshot)
    marker.write_text(fingerprint)
    return True


def static_exclusion() -> list[str]:
    """The arguments that leave the static models out of a build, with the checks of nothing
    else: cautious indirect selection drops a test only when every model it reads is left
    out, where dbt's default (eager) also drops every test that reads a static model beside
    others (the marts' checks against ``int_regioner``); tests/test_dbt.py compares the two."""
    return ["--exclude", STATIC, "--indirect-selection", "cautious"]


def _static_marker(settings: Settings, kind: str) -> Path:
    return dbt_dir(settings) / f"static-{kind}.json"


def _static_key(settings: Settings) -> str:
    return f"{project_key(settings)}|{settings.warehouse.resolve()}"


def _static_built(settings: Settings, kind: str, relations: dict[str, str]) -> bool:
    """Whether the static models of ``kind`` (``build`` or ``publishing``) were built by this
    project, unchanged since (every file, seeds included: :func:`project_key`), and are all
    still among the warehouse's ``relations``; then a build leaves them out (``STATIC``)."""
    try:
        marker = json.loads(_static_marker(settings, kind).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("key") != _static_key(settings):
        return False
    built = marker.get("relations")
    return isinstance(built, dict) and built.items() <= relations.items()


def _static_relations(settings: Settings, kind: str) -> dict[str, str]:
    """The relations (``schema.name`` -> ``VIEW`` or ``BASE TABLE``) of the static models a
    build of ``kind`` makes (``publishing``: those under :data:`PUBLISHING`; ``build``: the
    others), from dbt's parse in this process when it is of this project (the build that
    just ran: no second parse after a change), else from the parsed manifest (:func:`parse`).
    """
    key = project_key(settings)
    if _manifest is not None and _manifest[0].startswith(f"{key}|"):
        in_process = _manifest[1].nodes.values()  # type: ignore[attr-defined]
        nodes = [n.to_dict() for n in in_process if "static" in n.tags]
    else:
        nodes = list(json.loads(parse(settings).read_text("utf-8"))["nodes"].values())
    prefixes = tuple(p.removeprefix("path:") + "/" for p in PUBLISHING)
    out = {}
    for n in nodes:
        if n["resource_type"] != "model" or "static" not in n["tags"]:
            continue
        if n["original_file_path"].startswith(prefixes) == (kind == "publishing"):
            view = n["config"]["materialized"] == "replaced_view"
            out[f"{n['schema']}.{n['alias']}"] = "VIEW" if view else "BASE TABLE"
    return dict(sorted(out.items()))


def _run_leaving_static_out(
    settings: Settings,
    kind: str,
    args: list[str],
    *,
    what: str,
    snapshot: date,
    allowed: bool,
    relations: dict[str, str],
) -> None:
    """:func:`run_dbt` of a build of ``kind``, leaving the static models out when ``allowed``
    and they are among the warehouse's ``relations`` (:func:`_static_built`); a build that
    made them notes it."""
    static = allowed and _static_built(settings, kind, relations)
    run_dbt(
        settings, [*args, *static_exclusion()] if static else args, what=what, snapshot=snapshot
    )
    if allowed and not static:
        atomic_write_text(
            _static_marker(settings, kind),
            json.dumps(
                {"key": _static_key(settings), "relations": _static_relations(settings, kind)},
                indent=1,
            ),
        )


def build(
    settings: Settings,
    snapshot: date,
    *,
    controls_only: bool = False,
    unit_tests: bool = False,
) -> None:
    """Build ``snapshot``: staging -> intermediate -> marts -> publisering, with their tests.

    Incremental per snapshot: only ``snapshot``'s rows are replaced, other snapshots stay as
    they are. ``controls_only`` builds just what the registration controls need. dbt's unit
    tests run in the test suite; ``unit_tests=True`` runs them here too.
    """
    if not settings.warehouse.exists():
        raise TransformError(
            f"warehouse {settings.warehouse} does not exist: load a delivery first (nir load)"
        )
    from nir.warehouse import writer_lock

    # The models and their tests, never the seeds (seed() loads them when they change). The
    # seeds are not excluded by type: that excludes every test that reads one too (a check
    # against a code list), which is how twelve such tests once never ran in a build.
    if controls_only:
        selector = f"{CONTROLS_SELECTOR} {CHECKED_SEEDS}"
        args = ["build", *BUILD_FLAGS, "--select", selector, "--indirect-selection", "cautious"]
        args += ["--exclude", "resource_type:seed", *PUBLISHING]
    else:
        args = ["build", *BUILD_FLAGS, "--select", "path:models", "--exclude", *PUBLISHING]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    with writer_lock(settings):
        relations = _relations(settings)  # read once: the seeds' check and the static models'
        seed(settings, snapshot, relations=relations)
        faults.point("build:before_dbt")
        _run_leaving_static_out(
            settings,
            "build",
            args,
            what=f"dbt build for snapshot {snapshot.isoformat()}",
            snapshot=snapshot,
            allowed=not controls_only and not unit_tests,
            relations=relations,
        )
        faults.point("build:after_dbt")


def build_publishing(settings: Settings, snapshot: date) -> None:
    """Build the publishing layer (``models/publisering``) over every passed snapshot.

    Which snapshot each published figure comes from, the frozen final years and the status
    are decided there, from the gate's verdicts (``gate.resultater``). ``snapshot`` is the
    newest snapshot (``NIR_SNAPSHOT``).
    """
    from nir.warehouse import connect, held_open, writer_lock
    from nir.warehouse.results import ensure_results_table

    args = ["build", *BUILD_FLAGS, "--select", *PUBLISHING, "--exclude-resource-type", "unit_test"]
    with writer_lock(settings):
        with held_open(settings):  # one open; closed before dbt opens the file
            con = connect(settings)
            try:
                ensure_results_table(con)
            finally:
                con.close()
            relations = _relations(settings)  # once: the seeds' check, the static models'
        seed(settings, snapshot, relations=relations)
        _run_leaving_static_out(
            settings,
            "publishing",
            args,
            what="dbt build of the publishing layer",
            snapshot=snapshot,
            allowed=True,
            relations=relations,
        )


def parse(settings: Settings) -> Path:
    """Parse the dbt project (``dbt parse``); returns its manifest. Touches no warehouse.

    The manifest is a function of the project's files, dbt's version and the vars, so it is
    kept in a cache (:func:`parse_cache_dir`) under a hash of those: a new data directory
    (every test, a fresh deployment) reads the declarations without starting dbt, and a
    changed project is parsed again before anything reads its declarations (not whatever
    manifest the last build in this data directory happened to write).
    """
    cached = parse_cache_dir() / project_key(settings) / "manifest.json"
    if cached.is_file():
        return cached
    run_dbt(settings, ["parse", "--quiet"], what="dbt parse")
    manifest = dbt_dir(settings) / "target" / "manifest.json"
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cached, manifest.read_text("utf-8"))
    except OSError:  # a cache only: a read-only home changes nothing but the speed
        return manifest
    return cached


def parse_cache_dir() -> Path:
    """Where parsed manifests are kept: folder ``dbt-parse`` of :func:`nir.config.cache_root`."""
    from nir.config import cache_root

    return cache_root() / "dbt-parse"


def project_key(settings: Settings) -> str:
    """A hash of what a parsed manifest depends on: dbt's version, the vars, every file."""
    from importlib.metadata import version

    h = hashlib.sha256()
    h.update(version("dbt-core").encode() + version("dbt-duckdb").encode())
    h.update(json.dumps(dbt_vars(settings), sort_keys=True).encode())
    root = settings.dbt_project_dir
    skip = {"target", "logs", "dbt_packages"}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in skip or not path.is_file():
            continue
        h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:32]


def docs_generate(settings: Settings, snapshot: date) -> Path:
    """Run ``dbt docs generate``; returns the target folder (manifest.json, catalog.json)."""
    from nir.warehouse import writer_lock

    with writer_lock(settings):
        run_dbt(
            settings, ["docs", "generate", "--quiet"], what="dbt docs generate", snapshot=snapshot
        )
    return dbt_dir(settings) / "target"
