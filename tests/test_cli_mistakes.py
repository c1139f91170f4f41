"""The command line on the mistakes of issue #14: one line, a non-zero exit, never a traceback,
never a report about a snapshot that is not there.

Each runs the real `nir` entry point in a child process (its error handling is in `main`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from test_gate_fixtures import make_snapshot

from nir.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
SNAP = date(2024, 2, 1)
#: every command that takes a snapshot, the same way (a positional YYYY-MM-DD)
SNAPSHOT_COMMANDS = ("build", "gate", "publish", "control-lists", "revoke", "docs")


def nir(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "NIR_DATA_DIR": str(data_dir),
        "NIR_PSEUDONYM_KEY": "k" * 32,
        "COLUMNS": "60",  # a narrow terminal must not wrap the one line
    }
    env.pop("NIR_TRACEBACK", None)
    return subprocess.run(
        [sys.executable, "-m", "nir", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=data_dir.parent,
    )


def one_line(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def populated(tmp_path):
    """A warehouse that holds one loaded and built snapshot (2024-02-01)."""
    settings = load_settings(data_dir=tmp_path / "data")
    make_snapshot(settings, SNAP)
    return settings


@pytest.mark.parametrize("command", ["gate", "publish", "control-lists"])
def test_a_command_on_an_empty_data_directory_says_nothing_is_loaded(tmp_path, command):
    data = tmp_path / "data"
    proc = nir(command, "2024-02-01", data_dir=data)
    assert proc.returncode == 2
    line = one_line(proc)
    assert line.startswith("error: snapshot 2024-02-01 was never loaded: the warehouse ")
    assert line.endswith("load its delivery first (nir load <delivery>)")
    assert not (data / "warehouse" / "warehouse.duckdb").exists()  # nothing created


def test_publish_of_a_snapshot_never_loaded_says_so_and_publishes_nothing(populated):
    proc = nir("publish", "2099-01-01", data_dir=populated.data_dir)
    assert proc.returncode == 2
    assert one_line(proc) == (
        "error: snapshot 2099-01-01 was never loaded (loaded: 2024-02-01..2024-02-01, "
        "1 snapshot(s)); load its delivery first (nir load data/landing/2099-01-01)"
    )
    assert "published" not in proc.stdout
    assert not populated.published_db.exists()


def test_control_lists_of_a_snapshot_never_loaded_fails_and_writes_nothing(populated):
    proc = nir("control-lists", "2099-01-01", data_dir=populated.data_dir)
    assert proc.returncode == 2
    assert one_line(proc).startswith("error: snapshot 2099-01-01 was never loaded")
    assert not populated.kontroll_dir.exists() or not any(populated.kontroll_dir.rglob("*"))


def test_gate_of_a_snapshot_loaded_but_not_built_says_build_it(populated):
    import duckdb

    con = duckdb.connect(str(populated.warehouse))
    con.execute("insert into raw.leveranser (snapshot_date, kind) values ('2024-03-01', 'monthly')")
    con.close()
    proc = nir("gate", "2024-03-01", data_dir=populated.data_dir)
    assert proc.returncode == 2
    assert one_line(proc) == (
        "error: snapshot 2024-03-01 was loaded but never built (marts.fct_programmer has no "
        "rows for it); build it first (nir build 2024-03-01)"
    )


@pytest.mark.parametrize("command", SNAPSHOT_COMMANDS)
def test_every_command_takes_the_snapshot_the_same_way(populated, command):
    extra = ["--reason", "test"] if command == "revoke" else []
    proc = nir(command, "2099-01-01", *extra, data_dir=populated.data_dir)
    assert proc.returncode == 2
    assert one_line(proc).startswith("error: snapshot 2099-01-01 was never loaded")


def test_the_readme_shows_the_snapshot_as_the_commands_take_it():
    readme = (ROOT / "README.md").read_text("utf-8")
    for command in SNAPSHOT_COMMANDS:
        shown = re.findall(rf"`nir {command}( [^`]*)?`", readme)
        assert shown, f"the README does not show nir {command}"
        for args in shown:
            assert "--snapshot" not in args, f"nir {command}{args}"
            assert args.split()[0] in ("<snapshot>", "[<snapshot>]") or re.fullmatch(
                r"\d{4}-\d{2}-\d{2}", args.split()[0]
            ), f"nir {command}{args}"


def test_build_still_accepts_the_old_snapshot_option(populated):
    proc = nir("build", "--snapshot", "2099-01-01", data_dir=populated.data_dir)
    assert proc.returncode == 2
    assert one_line(proc).startswith("error: snapshot 2099-01-01 was never loaded")


def test_an_unexpected_error_is_one_line_not_a_traceback(tmp_path):
    data = tmp_path / "data"
    (data / "warehouse").mkdir(parents=True)
    (data / "warehouse" / "warehouse.duckdb").write_bytes(b"not a database" * 100)
    proc = nir("gate", "2024-02-01", data_dir=data)
    assert proc.returncode == 1
    line = one_line(proc)
    assert line.startswith("error: unexpected ")
    assert line.endswith("(rerun with NIR_TRACEBACK=1 for the details)")


def test_status_json_on_an_empty_data_directory(tmp_path):
    proc = nir("status", "--json", data_dir=tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["published"] is None and doc["gates"] == []
    assert doc["paths"]["published_db"] == "published/nir.duckdb"


def test_status_json_paths_are_relative_to_the_data_directory(populated):
    from nir.gate import run_gate
    from nir.publication.publish import publish

    run_gate(populated, SNAP)
    publish(populated, SNAP)
    proc = nir("status", "--json", data_dir=populated.data_dir)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [g["snapshot"] for g in doc["gates"]] == ["2024-02-01"]
    assert doc["gates"][0]["passed"] is True
    assert doc["published"]["snapshot"] == "2024-02-01"
    assert str(populated.data_dir) not in proc.stdout
    assert not re.search(r'"/[^"]*"', proc.stdout)  # no absolute path anywhere
    text = nir("status", data_dir=populated.data_dir)
    assert str(populated.data_dir) not in text.stdout


@pytest.mark.parametrize("command", ["load", "check"])
def test_load_of_a_folder_that_does_not_exist_quarantines_nothing(tmp_path, command):
    """A mistyped path is a usage mistake (exit 2), not a rejected delivery (exit 3)."""
    data = tmp_path / "data"
    proc = nir(command, str(tmp_path / "nonexistent"), data_dir=data)
    assert proc.returncode == 2
    assert "nonexistent: the delivery folder does not exist" in one_line(proc)
    assert not (data / "quarantine").exists() or not any((data / "quarantine").iterdir())
    assert not (data / "logs" / "load_log.jsonl").exists()
