"""Crashes and write errors during a load: no partial snapshot, nothing lost, reruns converge."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
import small_delivery

from nir.config import load_settings
from nir.contracts import nir_export as spec
from nir.delivery.load import load_delivery
from nir.warehouse import writer_lock

KEY = "k" * 32
OLD, NEW = date(2024, 1, 1), date(2024, 2, 1)


def dump(warehouse: Path) -> dict:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {
            f.table: con.execute(f"select * from raw.{f.table} order by all").fetchall()
            for f in spec.FILES
        }
        out["leveranser"] = con.execute(
            "select snapshot_date, fingerprint from raw.leveranser order by 1"
        ).fetchall()
        return out
    finally:
        con.close()


def child_load(data: Path, delivery: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "NIR_DATA_DIR": str(data), "NIR_PSEUDONYM_KEY": KEY, **env}
    return subprocess.run(
        [sys.executable, "-m", "nir", "load", str(delivery)],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def prepare(root: Path) -> tuple:
    """A warehouse holding OLD and a first version of NEW; a corrected NEW waiting to load."""
    s = load_settings(data_dir=root / "data", pseudonym_key=KEY)
    load_delivery(s, small_delivery.make(s.landing, OLD))
    load_delivery(s, small_delivery.make(root / "v1", NEW, aarsak="ARBEID"))
    corrected = small_delivery.make(root / "v2", NEW, aarsak="VGO")
    return s, corrected


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The warehouse after an uninterrupted run."""
    root = tmp_path_factory.mktemp("ref")
    s, corrected = prepare(root)
    load_delivery(s, corrected)
    return dump(s.warehouse)


@pytest.mark.parametrize(
    "point",
    ["load:deleted:personer", "load:deleted:tiltak", "load:before_commit", "load:after_commit"],
)
def test_sigkill_during_load_then_rerun(tmp_path, reference, point):
    s, corrected = prepare(tmp_path)
    before = dump(s.warehouse)
    killed = child_load(s.data_dir, corrected, NIR_FAULT=f"{point}:kill")
    assert killed.returncode == -signal.SIGKILL
    after_crash = dump(s.warehouse)  # the file opens: no corruption
    if point == "load:after_commit":
        assert after_crash == reference
    else:
        assert after_crash == before  # the transaction never happened: no partial snapshot
    rerun = child_load(s.data_dir, corrected)
    assert rerun.returncode == 0, rerun.stderr
    assert dump(s.warehouse) == reference


# load:deleted:tiltak is reached on the thread that writes the other tables while the
# identity numbers are pseudonymised: its error must stop the load the same way
@pytest.mark.parametrize("point", ["load:before_commit", "load:deleted:tiltak"])
def test_disk_full_fails_cleanly(tmp_path, point):
    s, corrected = prepare(tmp_path)
    before = dump(s.warehouse)
    out = child_load(s.data_dir, corrected, NIR_FAULT=f"{point}:enospc")
    assert out.returncode == 5
    assert "nothing was loaded" in out.stderr and "No space left" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert dump(s.warehouse) == before
    assert corrected.exists()  # the delivery is kept for the rerun


def test_second_writer_waits_then_stops_with_a_clear_message(tmp_path):
    s, corrected = prepare(tmp_path)
    before = dump(s.warehouse)
    with writer_lock(s):
        out = child_load(s.data_dir, corrected, NIR_LOCK_TIMEOUT_SECONDS="1")
    assert out.returncode == 4
    assert "busy" in out.stderr and "another run" in out.stderr
    assert dump(s.warehouse) == before
