"""What a worker does once: the embedded worker's background imports (nir.imports) with the
steps that wait for them, and the dbt manifest read once per project version."""

from __future__ import annotations

import sys
import threading
from datetime import date
from pathlib import Path

import pytest

from nir import imports, pipeline


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No background thread started yet; ``tmp_path`` importable."""
    monkeypatch.setattr(imports, "_background", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _blocking_module(folder: Path, name: str) -> threading.Event:
    """A module whose import blocks until the returned event is set."""
    release = threading.Event()
    setattr(sys.modules[__name__], f"_release_{name}", release)
    (folder / f"{name}.py").write_text(
        f"import {__name__} as t\nt._release_{name}.wait(30)\nDONE = True\n", "utf-8"
    )
    return release


def test_a_step_that_needs_dbt_or_gx_waits_until_the_background_imports_end(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = _blocking_module(fresh, "nir_slow_import")
    monkeypatch.delitem(sys.modules, "nir_slow_import", raising=False)
    seen: list[bool] = []
    monkeypatch.setattr(
        "nir.gate.run_gate",
        lambda settings, snapshot: seen.append("nir_slow_import" in sys.modules),
    )
    monkeypatch.setattr(pipeline, "_gate_pages", lambda settings: None)

    thread = imports.start_background(("nir_slow_import",))
    assert imports.start_background() is thread  # one per process
    step = threading.Thread(target=pipeline.gate, args=(None, date(2024, 3, 1)))
    step.start()
    step.join(0.2)
    assert step.is_alive() and not seen  # the gate has not started: it waits for the import
    release.set()
    step.join(30)
    assert seen == [True]  # it ran once the module was imported, whole
    assert sys.modules["nir_slow_import"].DONE is True


def test_without_a_background_thread_a_step_does_not_wait(fresh: Path) -> None:
    imports.wait()  # returns at once: nothing started (the CLI, the deployment's tasks)


def test_a_module_that_cannot_be_imported_is_reported_not_raised(fresh: Path) -> None:
    (fresh / "nir_broken_import.py").write_text("raise RuntimeError('broken')\n", "utf-8")
    imports.start_background(("json", "nir_broken_import"))
    imports.wait()
    assert "nir_broken_import" not in sys.modules


def test_the_background_imports_leave_the_delivery_modules_to_the_first_tasks() -> None:
    """check_contract and load import their own modules on the main thread while the
    background thread runs: no module is imported from both."""
    background = imports.background_modules()
    assert "nir.delivery.load" not in background
    assert {"dbt.cli.main", "great_expectations", "nir.gate"} <= set(background)


def test_the_manifest_is_read_again_when_dbt_rewrites_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from nir import catalog

    manifest = tmp_path / "manifest.json"
    monkeypatch.setattr("nir.warehouse.dbt.parse", lambda settings: manifest)
    manifest.write_text('{"version": 1}', "utf-8")
    first = catalog._manifest(None)[1]
    assert first == {"version": 1}
    assert catalog._manifest(None)[1] is first  # kept while the file is the same
    replacement = tmp_path / "manifest.new"
    replacement.write_text('{"version": 2}', "utf-8")
    replacement.replace(manifest)  # as dbt writes it: a new file in its place
    assert catalog._manifest(None)[1] == {"version": 2}


def test_a_missing_manifest_names_its_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from nir import catalog
    from nir.errors import NirError

    monkeypatch.setattr("nir.warehouse.dbt.parse", lambda settings: tmp_path / "none.json")
    with pytest.raises(NirError, match=r"none\.json"):
        catalog._manifest(None)


def test_between_runs_the_worker_collects_then_freezes_what_survives() -> None:
    """The embedded worker's heap (dbt, Airflow, GX, the parsed project) leaves the garbage
    collector's walks after each run, and the run's cyclic garbage is collected first rather
    than frozen with it."""
    import gc
    import weakref

    from nir.orchestration.embedded import _settle

    class Node:
        pass

    cycle = Node()
    cycle.self = cycle  # garbage only a collection frees
    gone = weakref.ref(cycle)
    kept = Node()
    del cycle
    try:
        _settle()
        assert gone() is None
        assert gc.get_freeze_count() > 0
        assert not any(o is kept for o in gc.get_objects())  # frozen: not walked
    finally:
        gc.unfreeze()


def test_the_task_processes_collect_their_youngest_objects_less_often() -> None:
    """The embedded worker and the deployment's executor (before it forks) raise the
    collector's first threshold; the executor's workers inherit it."""
    import gc
    import inspect

    from nir import imports
    from nir.orchestration import embedded, executor

    before = gc.get_threshold()
    try:
        imports.tune_gc()
        assert gc.get_threshold() == imports.GC_THRESHOLDS
        assert imports.GC_THRESHOLDS[0] > before[0]
    finally:
        gc.set_threshold(*before)
    assert "imports.tune_gc()" in inspect.getsource(embedded._worker)
    start = inspect.getsource(executor.PreloadingLocalExecutor.start)
    assert start.index("tune_gc()") < start.index("super().start()")
