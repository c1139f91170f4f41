"""Crashes, write errors and concurrent runs during the dbt build and the publication.

Real child processes (`nir build`, `nir publish`) are SIGKILLed at named fault points
(``NIR_FAULT``) or, once, as a whole process group while dbt runs. After each crash the
warehouse opens, the raw layer and the published database are intact, and a rerun converges
on the figures of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from nir.config import load_settings
from nir.warehouse import writer_lock

pytestmark = pytest.mark.integration

KEY = "p" * 32
S1, S2 = date(2024, 2, 1), date(2024, 3, 1)
SCHEMAS = ("raw", "marts", "publisering")


def _settings(data: Path):
    # the flow is under test, not the threshold (see test_publish_e2e)
    return load_settings(data_dir=data, pseudonym_key=KEY, gate_max_ikke_registrert_share=0.25)


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIR_")}
    env.update(
        NIR_DATA_DIR=str(data),
        NIR_PSEUDONYM_KEY=KEY,
        NIR_GATE_MAX_IKKE_REGISTRERT_SHARE="0.25",
        **extra,
    )
    return env


def _nir(data: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nir", *args],
        capture_output=True,
        text=True,
        env=_env(data, **extra),
        timeout=300,
    )


def _start(data: Path, *args: str, **extra: str) -> subprocess.Popen:
    """A `nir` child in its own session (so its dbt grandchild is in its process group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "nir", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(data, **extra),
        start_new_session=True,
    )


def _dump(warehouse: Path, schemas=SCHEMAS) -> dict[str, list]:
    """Every table of ``schemas``, sorted, without load-time stamps."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where schema_name in (select unnest(?::varchar[])) order by 1, 2",
            [list(schemas)],
        ).fetchall()
        out = {}
        for schema, table in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from duckdb_columns() "
                    "where schema_name = ? and table_name = ? order by column_index",
                    [schema, table],
                ).fetchall()
                if r[0] != "loaded_at"
            ]
            sel = ", ".join(f'"{c}"' for c in cols)
            out[f"{schema}.{table}"] = con.execute(
                f'select {sel} from "{schema}"."{table}" order by all'
            ).fetchall()
        return out
    finally:
        con.close()


def _published(db: Path) -> dict[str, list]:
    from nir.status import published_tables

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            n: con.execute(f"select * from statistikk.{n} order by all").fetchall()
            for n in published_tables(con)
        }
    finally:
        con.close()


def _parquet(pub: Path) -> dict[str, list]:
    con = duckdb.connect()
    try:
        return {
            p.stem: con.execute(f"select * from read_parquet('{p}') order by all").fetchall()
            for p in sorted((pub / "parquet").glob("*.parquet"))
        }
    finally:
        con.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_publication_consistent(settings) -> None:
    """The published file is the one its records name, the Parquet copies match it and the
    JSON-stat datasets are of its snapshot."""
    pub = settings.published_dir
    record = json.loads((pub / "statistikk.json").read_text("utf-8"))
    last = json.loads((pub / "publiseringslogg.jsonl").read_text("utf-8").splitlines()[-1])
    digest = _sha256(settings.published_db)
    assert record["sha256"] == digest
    assert last["sha256"] == digest
    assert _parquet(pub) == _published(settings.published_db)
    snapshots = {
        json.loads(p.read_text("utf-8"))["extension"]["snapshot"]
        for p in (pub / "jsonstat").glob("*.json")
    }
    assert snapshots == {record["snapshot"]}
    assert not list(pub.glob("nir.duckdb.tmp-*"))


def _copy(src, dest: Path):
    shutil.copytree(src.data_dir, dest / "data", symlinks=True)
    return _settings(dest / "data")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """S1 loaded, built, gated and published; S2 loaded but not built."""
    from nir.delivery.load import load_delivery
    from nir.gate import run_gate
    from nir.publication.publish import publish
    from nir.tools.generate import generate
    from nir.warehouse.dbt import build

    settings = _settings(tmp_path_factory.mktemp("base") / "data")
    deliveries = generate(
        settings.landing, persons=300, start="2024-01", end="2024-02", seed=11, daily=0
    )
    for d in deliveries:
        load_delivery(settings, d)
    build(settings, S1)
    run_gate(settings, S1)
    publish(settings, S1)
    return settings


@pytest.fixture(scope="module")
def built2(base, tmp_path_factory):
    """``base`` with S2 built and gated (ready to publish), and its uninterrupted dump."""
    from nir.gate import run_gate
    from nir.warehouse.dbt import build

    settings = _copy(base, tmp_path_factory.mktemp("built2"))
    build(settings, S2)
    run_gate(settings, S2)
    return settings, _dump(settings.warehouse)


@pytest.fixture(scope="module")
def published2(built2, tmp_path_factory):
    """The published tables after an uninterrupted publication of S2."""
    from nir.publication.publish import publish

    settings = _copy(built2[0], tmp_path_factory.mktemp("published2"))
    publish(settings, S2)
    _assert_publication_consistent(settings)
    return _published(settings.published_db)


# --- the dbt build ------------------------------------------------------------------------------
def _session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid:  # fields after "comm)": state ppid pgrp session ...
            pids.append(int(entry.name))
    return pids


def _dbt_running(sid: int) -> bool:
    """A build process of the session is alive: dbt's own, or ``nir build`` running dbt
    in-process (setting ``dbt_in_process``)."""
    for pid in _session_pids(sid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"build" in cmd.split(b"\0"):
            return True
    return False


def _kill_group_while_dbt_builds(settings, proc: subprocess.Popen) -> None:
    """Wait until dbt executes models of the build (target/run/ appears), then SIGKILL all."""
    run_dir = settings.data_dir / "dbt" / "target" / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if _dbt_running(proc.pid) and run_dir.exists() and any(run_dir.rglob("*.sql")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the build finished before it could be killed"
    assert _dbt_running(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("point", ["build:before_dbt", "build:after_dbt", "killpg-during-dbt"])
def test_sigkill_during_build_then_rerun(base, built2, tmp_path, point):
    settings = _copy(base, tmp_path)
    before = _dump(settings.warehouse)
    published_before = _sha256(settings.published_db)

    if point == "killpg-during-dbt":
        proc = _start(settings.data_dir, "build", "--snapshot", S2.isoformat())
        _kill_group_while_dbt_builds(settings, proc)
    else:
        proc = _start(
            settings.data_dir, "build", "--snapshot", S2.isoformat(), NIR_FAULT=f"{point}:kill"
        )
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    for _ in range(100):  # SIGKILL is asynchronous: let the group disappear
        if not _session_pids(proc.pid):
            break
        time.sleep(0.05)
    assert not _session_pids(proc.pid), "a dbt process outlived its killed parent"

    after = _dump(settings.warehouse)  # the file opens: not corrupted
    # raw and every other snapshot are untouched; only S2's own rows can differ
    for name, rows in before.items():
        if name.startswith("raw."):
            assert after[name] == rows, name
        else:
            assert [r for r in after[name] if S2 not in r] == [r for r in rows if S2 not in r]
    if point == "build:before_dbt":
        assert after == before
    # the publication is untouched and still what its record says
    assert _sha256(settings.published_db) == published_before
    _assert_publication_consistent(settings)

    # the rerun in this process: the same code as `nir build` without paying for its start
    # (the crash needs a child of its own, the recovery does not)
    from nir.warehouse.dbt import build

    build(settings, S2)
    assert _dump(settings.warehouse) == built2[1]


@pytest.mark.parametrize("missing", ["marts.fct_deltakelse_aar", "marts.fct_resultater_aar"])
def test_a_snapshot_whose_build_stopped_halfway_does_not_pass_its_gate(built2, tmp_path, missing):
    """dbt commits model by model: a build killed halfway through the marts leaves some of
    S2's marts without rows. Such a snapshot must not pass its gate (else `publish` would
    record S2 while showing older figures)."""
    settings = _copy(built2[0], tmp_path)
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute(f"delete from {missing} where snapshot_date = ?", [S2])
    finally:
        con.close()
    published_before = _sha256(settings.published_db)

    gate = _nir(settings.data_dir, "gate", S2.isoformat())
    publish = _nir(settings.data_dir, "publish", S2.isoformat())

    assert gate.returncode == 5, gate.stdout
    assert publish.returncode == 5, publish.stdout
    assert len(publish.stderr.strip().splitlines()) == 1, publish.stderr
    assert _sha256(settings.published_db) == published_before


def test_two_builds_at_once_the_second_waits(base, built2, tmp_path):
    settings = _copy(base, tmp_path)
    procs = [_start(settings.data_dir, "build", "--snapshot", S2.isoformat()) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert _dump(settings.warehouse) == built2[1]


def test_a_build_stops_with_a_clear_message_when_the_warehouse_stays_busy(base, tmp_path):
    settings = _copy(base, tmp_path)
    before = _dump(settings.warehouse)
    with writer_lock(settings):
        out = _nir(
            settings.data_dir, "build", "--snapshot", S2.isoformat(), NIR_LOCK_TIMEOUT_SECONDS="1"
        )
    assert out.returncode == 4
    assert out.stderr.startswith("error: ") and "busy" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert _dump(settings.warehouse) == before


# --- the publication ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "point", ["publish:written", "publish:audited", "publish:replaced", "publish:logged"]
)
def test_sigkill_during_publish_then_rerun(built2, published2, tmp_path, point):
    settings = _copy(built2[0], tmp_path)
    old_bytes = settings.published_db.read_bytes()
    old_tables = _published(settings.published_db)

    out = _nir(settings.data_dir, "publish", S2.isoformat(), NIR_FAULT=f"{point}:kill")
    assert out.returncode == -signal.SIGKILL

    tables = _published(settings.published_db)  # opens: never a half-written file
    if point in ("publish:written", "publish:audited"):
        assert settings.published_db.read_bytes() == old_bytes
        assert tables == old_tables
        record = json.loads((settings.published_dir / "statistikk.json").read_text("utf-8"))
        assert record["sha256"] == _sha256(settings.published_db)
    else:
        assert tables == published2  # the rename happened: readers see the new figures
    # the warehouse survives too
    _dump(settings.warehouse, ("raw", "publisering", "gate"))

    from nir.publication.publish import publish

    publish(settings, S2)  # the rerun in this process (as the build's above)
    assert _published(settings.published_db) == published2
    _assert_publication_consistent(settings)


@pytest.mark.parametrize("point", ["publish:written", "publish:audited"])
def test_disk_full_during_publish_fails_cleanly(built2, tmp_path, point):
    settings = _copy(built2[0], tmp_path)
    old_bytes = settings.published_db.read_bytes()
    listing = sorted(p.name for p in settings.published_dir.iterdir())

    out = _nir(settings.data_dir, "publish", S2.isoformat(), NIR_FAULT=f"{point}:enospc")
    assert out.returncode == 5, out.stderr
    assert out.stderr.startswith("error: ") and "No space left" in out.stderr
    assert "replaced only as a whole" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert settings.published_db.read_bytes() == old_bytes
    assert sorted(p.name for p in settings.published_dir.iterdir()) == listing
    _assert_publication_consistent(settings)


def test_two_publications_at_once_never_corrupt(built2, published2, tmp_path):
    settings = _copy(built2[0], tmp_path)
    procs = [_start(settings.data_dir, "publish", S2.isoformat()) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert _published(settings.published_db) == published2
    _assert_publication_consistent(settings)
    logged = (settings.published_dir / "publiseringslogg.jsonl").read_text("utf-8").splitlines()
    assert len(logged) == 3  # S1, then the two publications of S2, one after the other


def test_restore_the_previous_publication_as_the_runbook_says(base, built2, tmp_path):
    """docs/operations.md: take the bad snapshot back (`nir revoke`), publish the previous."""
    settings = _copy(built2[0], tmp_path)
    previous = _published(settings.published_db)
    assert _nir(settings.data_dir, "publish", S2.isoformat()).returncode == 0
    assert _published(settings.published_db) != previous

    # S2 (1 March) froze 2023 as final: revoking it thaws 2023 too
    revoked = _nir(settings.data_dir, "revoke", S2.isoformat(), "--reason", "wrong figures")
    assert revoked.returncode == 0, revoked.stderr
    assert "final figures of 2023 thawed" in revoked.stdout
    out = _nir(settings.data_dir, "publish", S1.isoformat())

    assert out.returncode == 0, out.stderr
    assert _published(settings.published_db) == previous
    _assert_publication_consistent(settings)
    log = (settings.published_dir / "publiseringslogg.jsonl").read_text("utf-8").splitlines()
    first, last = json.loads(log[0]), json.loads(log[-1])
    assert (last["sources"], last["rows"]) == (first["sources"], first["rows"])
