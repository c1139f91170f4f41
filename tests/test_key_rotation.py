"""Rotating the pseudonymisation key: every snapshot re-pseudonymised, statistics unchanged."""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import shutil
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from nir.config import load_settings
from nir.delivery.pseudonymize import key_id

SNAPSHOTS = (date(2024, 2, 1), date(2024, 3, 1))


def _nir(data: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIR_")}
    env.update(NIR_DATA_DIR=str(data), **extra)
    return subprocess.run(
        [sys.executable, "-m", "nir", *args], capture_output=True, text=True, env=env, timeout=600
    )


def _fnrs(landing: Path) -> set[str]:
    out = set()
    for path in landing.glob("*/personer.csv"):
        text = path.read_bytes().decode("latin-1")
        out |= {r["fodselsnummer"] for r in csv.DictReader(text.splitlines(), delimiter=";")}
    return out


def _all_text(warehouse: Path) -> set[str]:
    """Every text value of every table in the warehouse."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cols = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where data_type = 'VARCHAR' and database_name = current_database()"
        ).fetchall()
        values: set[str] = set()
        for schema, table, column in cols:
            rows = con.execute(
                f'select distinct "{column}" from "{schema}"."{table}" where "{column}" is not null'
            ).fetchall()
            values |= {r[0] for r in rows}
        return values
    finally:
        con.close()


def _statistics(warehouse: Path) -> dict[str, list]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where schema_name in ('marts', 'publisering') order by 1, 2"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(f"select * from {s}.{t} order by all").fetchall()
            for s, t in tables
        }
    finally:
        con.close()


def _key_ids(warehouse: Path) -> dict[date, str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return dict(
            con.execute("select snapshot_date, pseudonym_key_id from raw.leveranser").fetchall()
        )
    finally:
        con.close()


def _pseudonyms(warehouse: Path) -> dict[int, set[str]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute("select nir_lopenr, fnr_pseudonym from raw.personer").fetchall()
    finally:
        con.close()
    out: dict[int, set[str]] = {}
    for lopenr, p in rows:
        out.setdefault(lopenr, set()).add(p)
    return out


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Two monthly snapshots loaded with the embedded default key file and built."""
    from nir.delivery.load import load_delivery
    from nir.tools.generate import generate
    from nir.warehouse.dbt import build

    settings = load_settings(data_dir=tmp_path_factory.mktemp("rot") / "data")
    for d in generate(
        settings.landing, persons=250, start="2024-01", end="2024-02", seed=7, daily=0
    ):
        load_delivery(settings, d)
    for snap in SNAPSHOTS:
        build(settings, snap)
    return settings


@pytest.mark.integration
def test_rotate_key_repseudonymises_every_snapshot_and_keeps_the_statistics(loaded, tmp_path):
    shutil.copytree(loaded.data_dir, tmp_path / "data")
    settings = load_settings(data_dir=tmp_path / "data")
    old_key = settings.key_bytes()
    old_pseudonyms = set().union(*_pseudonyms(settings.warehouse).values())
    assert set(_key_ids(settings.warehouse).values()) == {key_id(old_key)}
    before = _statistics(settings.warehouse)

    out = _nir(settings.data_dir, "rotate-key")
    assert out.returncode == 0, out.stderr

    key_path = settings.secrets_dir / "pseudonym.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    new_key = settings.key_bytes()
    assert new_key != old_key
    new_id = key_id(new_key)
    assert new_id in out.stdout
    # every snapshot carries the new key id
    assert _key_ids(settings.warehouse) == dict.fromkeys(SNAPSHOTS, new_id)
    # no pseudonym made with the old key is left anywhere in the warehouse
    assert not old_pseudonyms & _all_text(settings.warehouse)
    # the new pseudonyms are HMAC-SHA256(new key, fnr) of the delivered numbers
    expected = {
        hmac.new(new_key, f.encode(), hashlib.sha256).hexdigest() for f in _fnrs(settings.landing)
    }
    assert set().union(*_pseudonyms(settings.warehouse).values()) == expected
    # the statistics do not depend on the key
    assert _statistics(settings.warehouse) == before
    # a second run finds nothing to do
    again = _nir(settings.data_dir, "reload")
    assert again.returncode == 0, again.stderr
    assert "0 snapshot(s) rebuilt" in again.stdout


def test_reload_under_an_environment_key_replaces_every_snapshot(tmp_path):
    from nir.delivery.load import load_delivery
    from nir.delivery.rotate import reload, stale_snapshots
    from nir.tools.generate import generate

    old = load_settings(data_dir=tmp_path / "data", pseudonym_key="a" * 32)
    first, second, third = generate(
        old.landing, persons=40, start="2024-01", end="2024-03", seed=2, daily=0
    )
    load_delivery(old, first)
    load_delivery(old, second)
    assert reload(old, rebuild=False).reloaded == dict.fromkeys(SNAPSHOTS, "unchanged")
    new = load_settings(data_dir=tmp_path / "data", pseudonym_key="b" * 32)
    assert stale_snapshots(new) == list(SNAPSHOTS)
    report = reload(new, rebuild=False)
    # the loaded snapshots only: the third delivery is left to its own run
    assert report.reloaded == dict.fromkeys(SNAPSHOTS, "replaced")
    assert report.stale == []
    assert _key_ids(new.warehouse) == dict.fromkeys(SNAPSHOTS, key_id(b"b" * 32))
    assert third.name not in {s.isoformat() for s in _key_ids(new.warehouse)}
    # rotate-key refuses a key it does not own
    out = _nir(new.data_dir, "rotate-key", NIR_PSEUDONYM_KEY="b" * 32)
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and "NIR_PSEUDONYM_KEY" in out.stderr


def test_rotate_key_refuses_when_a_loaded_snapshot_has_no_delivery_left(tmp_path):
    from nir.delivery.load import load_delivery
    from nir.tools.generate import generate

    settings = load_settings(data_dir=tmp_path / "data")
    for d in generate(
        settings.landing, persons=40, start="2024-01", end="2024-02", seed=2, daily=0
    ):
        load_delivery(settings, d)
    shutil.rmtree(settings.landing / "2024-02-01")
    key_before = (settings.secrets_dir / "pseudonym.key").read_bytes()

    out = _nir(settings.data_dir, "rotate-key")

    assert out.returncode == 2
    assert "2024-02-01" in out.stderr and "--allow-missing" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert (settings.secrets_dir / "pseudonym.key").read_bytes() == key_before
    assert set(_key_ids(settings.warehouse).values()) == {key_id(key_before.strip())}
