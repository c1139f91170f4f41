"""Say where, never what: a fødselsnummer planted in every column of every file.

For each column of each contract file, a valid fødselsnummer replaces the value of one row;
the delivery is loaded (``load_delivery``, as ``nir load`` and the DAG's tasks run it). The
number may then be in the input (the landing area and its copy in quarantine) and nowhere
else: not in the error message, not on stdout or stderr, not in the load log, not in the
quarantine or held reports. (Airflow's task logs: ``tests/test_privacy.py`` plants one in a
run under Airflow and scans everything that run wrote.)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import small_delivery

from nir.config import load_settings
from nir.contracts import nir_export as spec
from nir.delivery.load import load_delivery
from nir.delivery.manifest import refresh_manifest
from nir.errors import NirError

NUMBER = small_delivery._fnr("170564", "250")
COLUMNS = [(f.name, c.name) for f in spec.FILES for c in f.columns if c.name != "fodselsnummer"]


def _plant(d: Path, name: str, column: str, value: str, row: int = 1) -> None:
    p = d / name
    lines = p.read_bytes().split(b"\n")
    header = lines[0].decode().split(";")
    fields = lines[row].split(b";")
    fields[header.index(column)] = value.encode()
    lines[row] = b";".join(fields)
    p.write_bytes(b"\n".join(lines))
    refresh_manifest(d)


def _outputs(data: Path) -> dict[str, bytes]:
    """Everything the load wrote that is not the input itself."""
    out = {}
    for p in sorted(data.rglob("*")):
        if not p.is_file() or p.is_relative_to(data / "landing"):
            continue
        if p.parent.parent == data / "quarantine" and (
            p.name in spec.FILES_BY_NAME or p.name == spec.MANIFEST
        ):
            continue  # the copied delivery: input, owner-only
        out[str(p.relative_to(data))] = p.read_bytes()
    return out


@pytest.mark.parametrize(("name", "column"), COLUMNS, ids=[f"{n}:{c}" for n, c in COLUMNS])
def test_planted_number_is_in_no_output(tmp_path, capfd, name, column):
    assert NUMBER not in small_delivery.identity_numbers(small_delivery.tables())
    settings = load_settings(data_dir=tmp_path / "data", pseudonym_key="k" * 32)
    d = small_delivery.make(settings.landing, date(2024, 2, 1))
    _plant(d, name, column, NUMBER)
    message = ""
    try:
        result = load_delivery(settings, d)
        message = f"{result.snapshot_date}: {result.outcome} ({result.message})"
    except NirError as exc:
        message = f"error: {exc}"
    captured = capfd.readouterr()
    assert NUMBER not in message, message
    assert NUMBER not in captured.out + captured.err
    leaks = [k for k, v in _outputs(settings.data_dir).items() if NUMBER.encode() in v]
    if settings.warehouse.exists():
        # a valid integer key (vedtak_id, tiltak_id) is loaded as the number it is: the
        # warehouse holds it as that key, not as an identity; no log or report repeats it
        leaks = [k for k in leaks if not k.startswith("warehouse/")]
    assert not leaks, (message, leaks)
    assert (settings.data_dir / "logs" / "load_log.jsonl").exists()
