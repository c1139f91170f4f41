"""`nir bench`: the measurements are produced and written; how fast anything is is not tested."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nir.tools import bench
from nir.tools.bench import Measurement, Scale, Target, _statements, ensure_history, run_child

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIR_")}
    env["NIR_DATA_DIR"] = str(data_dir)
    return env


def test_the_build_floor_is_generated_from_dbts_compiled_sql(tmp_path: Path) -> None:
    """The floor is dbt's compiled SQL flattened at benchmark time: dependency order, refs
    as plain names, sources left in the warehouse, the snapshot as a variable."""
    from nir.tools.floor import flatten

    models = tmp_path / "compiled" / "nir" / "models"
    for folder, name, sql in (
        ("marts", "fct_b", '-- the mart\nselect * from "warehouse"."intermediate"."int_a"'),
        (
            "intermediate",
            "int_a",
            'select * from "warehouse"."staging"."stg_x" '
            "where snapshot_date = cast('2025-01-01' as date)",
        ),
        ("staging/nir", "stg_x", 'select * from "warehouse"."raw"."personer"'),
    ):
        (models / folder).mkdir(parents=True, exist_ok=True)
        (models / folder / f"{name}.sql").write_text(sql, "utf-8")
    floor = _statements(flatten(tmp_path, "2025-01-01"))
    assert [s.split()[4] for s in floor] == ["stg_x", "int_a", "fct_b"]
    assert floor[0].startswith("create or replace view stg_x")
    assert '"warehouse"."raw"."personer"' in floor[0]  # sources stay in the warehouse
    assert "from stg_x where snapshot_date = getvariable('snapshot')" in floor[1]
    assert "'2025-01-01'" not in " ".join(floor) and "the mart" not in floor[2]
    gate = _statements(bench.GATE_FLOOR_SQL.read_text("utf-8"))
    assert len(gate) == 1 and gate[0].startswith("with programmer as")


def test_ratio_and_targets() -> None:
    m = Measurement("build", "national", [3.0, 9.0, 6.0], floor_seconds=[2.0, 1.0, 3.0])
    assert m.median == 6.0 and m.floor_median == 2.0 and m.ratio == 3.0
    assert Target("ratio", 3.0, "≤ 3×").met(m) is True
    assert Target("ratio", 2.0, "≤ 2×").met(m) is False
    assert Target("seconds", 5.0, "< 5 s").met(m) is False
    no_floor = Measurement("e2e", "national", [1.0])
    assert no_floor.ratio is None and Target("ratio", 2.0, "").met(no_floor) is None


def test_run_child_reports_peak_memory_of_the_child(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-c",
        "b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])",
    ]
    seconds, peak = run_child(cmd, dict(os.environ), tmp_path / "log")
    assert seconds > 0
    assert peak >= 300 * 1024 * 1024


def test_run_child_does_not_count_the_memory_of_the_process_that_starts_it(
    tmp_path: Path,
) -> None:
    """Linux gives a child started by a large process that process's high-water mark; the
    bench generates its histories in-process, so every step would report at least that."""
    ballast = b"x" * (400 * 1024 * 1024)  # written, so resident
    _, peak = run_child([sys.executable, "-c", "pass"], dict(os.environ), tmp_path / "log")
    assert len(ballast) and peak < 200 * 1024 * 1024


def test_run_child_raises_on_failure(tmp_path: Path) -> None:
    with pytest.raises(bench.BenchError, match="exit 3"):
        run_child([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ), tmp_path / "l")


def test_history_is_generated_once_and_regenerated_when_parameters_change(
    tmp_path: Path,
) -> None:
    scale = Scale("tiny", 40, "2024-01", "2024-02")
    first = ensure_history(tmp_path, scale, lambda _m: None)
    assert [d.isoformat() for d in first] == ["2024-02-01", "2024-03-01"]
    meta = tmp_path / "tiny" / "generated.json"
    stamp = meta.stat().st_mtime_ns
    assert ensure_history(tmp_path, scale, lambda _m: None) == first
    assert meta.stat().st_mtime_ns == stamp  # reused, not regenerated
    bigger = Scale("tiny", 50, "2024-01", "2024-02")
    ensure_history(tmp_path, bigger, lambda _m: None)
    assert json.loads(meta.read_text())["persons"] == 50


@pytest.mark.integration
def test_quick_bench_produces_every_figure_and_writes_json(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nir", "bench", "--quick"],
        env=_env(tmp_path),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "bench"
    latest = json.loads((out / "latest.json").read_text())
    results = list(out.glob("results-*.json"))
    assert len(results) == 1 and json.loads(results[0].read_text()) == latest
    assert latest["errors"] == [] and latest["quick"] is True
    assert json.loads((out / "quick" / "generated.json").read_text())["persons"] == 500

    by_name = {re.sub(r" \(?\d{4}-\d\d-\d\d\)?", "", m["name"]): m for m in latest["measurements"]}
    assert set(by_name) == {
        "load",
        "build",
        "gate",
        "disclosure control",
        "disclosure audit",
        "monthly run (Airflow)",
        "load in the worker (monthly run)",
        "build in the worker (monthly run)",
        "gate in the worker (monthly run)",
        "backfill month 1 load+build",
        "backfill month 2 load+build",
        "backfill 2 months load+build, total",
        "build in a warm worker",
        "gate in a warm worker",
    }
    for m in latest["measurements"]:
        assert m["seconds"] and all(s > 0 for s in m["seconds"])
        assert m["peak_rss"] > 0
    for step in ("load", "build", "gate"):
        m = by_name[step]
        assert m["floor_seconds"] and m["ratio"] > 0 and m["floor_peak_rss"] > 0
        assert m["target"]
    assert by_name["load"]["target_met"] in (True, False)
    assert by_name["build"]["target"] == "≤ 3× floor"  # issue #13: at every scale
    assert by_name["monthly run (Airflow)"]["target"] == "< 30 s"
    # where the run went, task by task, and the steps inside the worker against the floors
    # of the steps phase (issue #13: the gate inside the worker)
    assert re.search(r"tasks, median s: \w+ [\d.]+, ", by_name["monthly run (Airflow)"]["note"])
    for step in ("load", "build", "gate"):
        m = by_name[f"{step} in the worker (monthly run)"]
        assert m["floor_seconds"] == by_name[step]["floor_seconds"] and m["ratio"] > 0
        assert m["target"] == by_name[step]["target"]
    # and once warm (dbt and GX imported, dbt's first command done), timed in one process
    for step in ("build", "gate"):
        m = by_name[f"{step} in a warm worker"]
        assert len(m["seconds"]) == len(by_name[step]["seconds"])
        assert m["floor_seconds"] == by_name[step]["floor_seconds"] and m["ratio"] > 0
        assert m["target"] == by_name[step]["target"]
    assert by_name["backfill month 2 load+build"]["target"] == "≤ 1.1× month 1"
    assert by_name["backfill 2 months load+build, total"]["target"] == "< 8 min"
    assert "nir bench (medians)" in proc.stdout
    # disclosure control and its audit on the quick snapshot: nothing recoverable (an audit
    # finding would be in latest["errors"]), compared with the classic rule
    assert "classic rule:" in by_name["disclosure control"]["note"]
    assert "0 primary / 0 hidden cells recoverable" in by_name["disclosure control"]["note"]


def test_backfill_compares_months_and_the_same_snapshot_in_an_empty_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    from nir.config import load_settings

    runner = bench.Bench(load_settings(data_dir=tmp_path), repeat=1)
    runner.fresh_cost["tiny 2024-04-01"] = 10.0
    calls: list[str] = []

    def fake_child(label: str, cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
        calls.append(label)
        month = int(label.split("month ")[1].split("/")[0])
        return (float(month), 1024) if label.endswith(("load", "build")) else (0.0, 0)

    monkeypatch.setattr(runner, "child", fake_child)
    snaps = [date(2024, m, 1) for m in (2, 3, 4)]
    runner.backfill(Scale("tiny", 10, "2024-01", "2024-03"), snaps, [1, 3])
    by_name = {m.name: m for m in runner.measurements}
    # every month is loaded and built in order, the seeds once before the first build
    assert [c.split(": ")[1] for c in calls] == [
        "load", "dbt seed (not measured)", "build", "load", "build", "load", "build"
    ]  # fmt: skip
    month3 = by_name["backfill month 3 load+build (2024-04-01)"]
    assert month3.seconds == [6.0] and month3.ratio == 3.0 and month3.target_met is False
    total = by_name["backfill 3 months load+build, total"]
    assert total.seconds == [2.0 + 4.0 + 6.0] and total.target_met is True
    versus = by_name["backfill month 3 vs empty warehouse (2024-04-01)"]
    assert versus.ratio == 0.6 and versus.target_met is True
    assert json.loads((tmp_path / "bench" / "latest.json").read_text())["measurements"]


def test_only_runs_the_named_phases_and_a_disclosure_without_its_steps_says_so(
    tmp_path: Path,
) -> None:
    from nir.config import load_settings

    runner = bench.Bench(
        load_settings(data_dir=tmp_path), repeat=1, quick=True, only=("disclosure",)
    )
    runner.run()
    doc = json.loads((tmp_path / "bench" / "latest.json").read_text("utf-8"))
    assert list(doc["phase_seconds"]) == ["disclosure"] and doc["only"] == ["disclosure"]
    assert doc["measurements"] == []
    [error] = doc["errors"]
    assert error.startswith("disclosure: nothing built at quick scale")
    assert "run the steps phase first (--only steps before --only disclosure)" in error


def test_an_unknown_phase_is_refused_before_anything_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nir", "bench", "--only", "national-step"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "no benchmark phase national-step; the phases are national-steps" in proc.stderr
    assert not (tmp_path / "bench" / "national").exists()  # nothing generated


def test_the_national_run_starts_with_every_year_past_its_deadline_frozen() -> None:
    # the base of the monthly run is production's state: the final snapshot of every year
    # whose deadline has passed (the first monthly one after it) has been gated, so those
    # years are frozen and their disclosure control is kept from the last publication
    from datetime import date

    from nir.config import Settings

    settings = Settings(annual_deadline_month=2, annual_deadline_day=None)
    snapshots = [date(2021 + m // 12, m % 12 + 1, 1) for m in range(1, 47)]  # to 2024-11-01
    assert bench.final_snapshots(settings, snapshots) == [
        date(2021, 3, 1),
        date(2022, 3, 1),
        date(2023, 3, 1),
        date(2024, 3, 1),
    ]
    assert bench.final_snapshots(settings, snapshots[:12]) == [date(2021, 3, 1)]
    assert bench.final_snapshots(settings, []) == []
