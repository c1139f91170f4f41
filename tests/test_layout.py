"""The package's structure: who may import whom (docs/architecture in the README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PUBLISHING = ("nir.publication",)


def _imported_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import nir.gate",
        "import nir_expectations.completeness",
        "import nir_expectations.marts",
        "import nir_expectations.publication",
    ],
)
def test_the_gate_and_the_suites_import_no_publishing_code(statement):
    mods = _imported_after(statement)
    leaked = sorted(m for m in mods if m.startswith(PUBLISHING))
    assert not leaked, f"{statement} imports publishing code: {leaked}"


def test_the_suites_are_an_installed_package_not_loaded_by_path():
    import nir_expectations

    from nir import gate

    assert gate.load_suite("marts").__name__ == "nir_expectations.marts"
    with open(gate.__file__, encoding="utf-8") as f:
        assert "importlib.util" not in f.read()
    assert nir_expectations.__file__.endswith("expectations/nir_expectations/__init__.py")


def test_delivery_code_knows_nothing_of_dbt_gx_or_airflow():
    mods = _imported_after("import nir.delivery.load, nir.delivery.check")
    for forbidden in ("dbt", "great_expectations", "airflow", "nir.publication", "nir.gate"):
        assert not any(m == forbidden or m.startswith(forbidden + ".") for m in mods), forbidden


def test_the_test_files_run_longest_first_exist():
    """``conftest.LONGEST_FIRST`` orders the run; a renamed file would silently drop out."""
    from conftest import LONGEST_FIRST

    tests = Path(__file__).parent
    assert [n for n in LONGEST_FIRST if not (tests / n).is_file()] == []
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
