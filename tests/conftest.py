"""Shared fixtures. Keep this small: fixtures used by one module live in that module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = PROJECT_ROOT / "dags"

#: The test files that take longest on one worker, longest first (seconds summed over their
#: tests, `--junitxml` of a full run on 2 cores, 4 December 2026). `make test` keeps each file
#: on one worker in collection order (`--dist loadfile --no-loadscope-reorder`); collecting
#: these first hands the longest files out first and leaves short ones for the end, so neither
#: worker sits idle while the other finishes a long file (xdist's own order, by number of
#: tests, started the one-test bench and deployment files last). Only the order changes.
LONGEST_FIRST = (
    "test_faults_pipeline.py",  # 267 s
    "test_dags.py",  # 201 s
    "test_publish.py",  # 145 s
    "test_deployment.py",  # 114 s
    "test_bench.py",  # 86 s
    "test_fuzz_readers.py",  # 63 s
    "test_dbt.py",  # 47 s
    "test_privacy.py",  # 45 s
    "test_transform.py",  # 38 s
    "test_gate.py",  # 27 s (one publication shared by its suite tests)
    "test_disclosure_independent.py",  # 23 s
    "test_key_rotation.py",  # 20 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: same file order


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An AIRFLOW_HOME under the session's tmp dir for tests that import Airflow in-process.

    Airflow reads its configuration once, when first imported: import it inside the test
    (after this fixture), never at module level.
    """
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield home
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
