"""The re-identification attempt of issue #12, as an attacker holding the data volume.

Before: the key lived in the data folder (``data/secrets/pseudonym.key``, the same volume as
the warehouse, mounted in every container) and ``raw.personer`` kept ``fodselsdato`` in clear,
so key + birth date narrowed each pseudonym to a few hundred candidate numbers: a short script
re-identified 19 of 20 persons. Now, laid out as ``docker-compose.yml`` lays it out (the data
volume, the key as a secret file elsewhere, ``NIR_DEPLOYMENT=deployed``), the attacker finds
neither the key nor a birth date in the volume, and every byte string in it fails as a key.
"""

from __future__ import annotations

import csv
import hmac
import io
import re
import secrets
from datetime import datetime
from hashlib import sha256
from pathlib import Path

import duckdb
import pytest

from nir.config import ConfigError, load_settings
from nir.delivery.load import load_delivery
from nir.tools.generate import generate


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("deployment")
    volume = root / "data"  # the nir-data volume, mounted in every container
    run_secrets = root / "run_secrets"  # /run/secrets/ of the scheduler only
    run_secrets.mkdir(mode=0o700)
    key_file = run_secrets / "nir_pseudonym_key"
    key_file.write_text(secrets.token_hex(32) + "\n")
    key_file.chmod(0o400)
    settings = load_settings(data_dir=volume, deployment="deployed", pseudonym_key_file=key_file)
    folders = generate(settings.landing, persons=60, start="2024-01", end="2024-02", daily=0)
    for folder in folders:
        load_delivery(settings, folder)
    persons = {}
    for folder in folders:
        text = (folder / "personer.csv").read_text("utf-8-sig")
        for row in csv.DictReader(io.StringIO(text), delimiter=";"):
            born = datetime.strptime(row["fodselsdato"], "%d.%m.%Y").date()
            persons[int(row["nir_lopenr"])] = (row["fodselsnummer"], born)
    return settings, volume, key_file, persons


def _warehouse_values(warehouse: Path) -> list[tuple[str, str, list[str], list[tuple]]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = []
        for schema, table in con.execute(
            "select schema_name, table_name from duckdb_tables()"
        ).fetchall():
            cols = [r[0] for r in con.execute(f'describe "{schema}"."{table}"').fetchall()]
            rows = con.execute(f'select * from "{schema}"."{table}"').fetchall()
            out.append((schema, table, cols, rows))
        return out
    finally:
        con.close()


def test_the_key_is_not_in_the_data_volume(deployment):
    _, volume, key_file, _ = deployment
    key = key_file.read_bytes().strip()
    assert not key_file.resolve().is_relative_to(volume.resolve())
    for path in volume.rglob("*"):
        if path.is_file():
            assert key not in path.read_bytes(), f"the key is in {path}"
    assert not (volume / "secrets").exists()


def test_no_birth_date_in_the_warehouse(deployment):
    settings, _, _, persons = deployment
    checked = 0
    for schema, table, cols, rows in _warehouse_values(settings.warehouse):
        assert "fodselsdato" not in cols, f"{schema}.{table}"
        if "nir_lopenr" not in cols:
            continue
        i = cols.index("nir_lopenr")
        for row in rows:
            person = persons.get(row[i])
            if person is None:
                continue
            born = person[1]
            shown = {born, born.isoformat(), born.strftime("%d.%m.%Y")}
            assert not shown & set(row), f"{schema}.{table}: a birth date of person {row[i]}"
            checked += 1
    assert checked >= 100
    # what the statistics need is there: the birth year, the pseudonym, the validity flag
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        cols = [r[0] for r in con.execute("describe raw.personer").fetchall()]
    finally:
        con.close()
    assert {"fodselsaar", "fnr_pseudonym", "fnr_gyldig"} <= set(cols)


def test_re_identification_fails_with_anything_found_in_the_volume(deployment):
    """Try every file of the volume, and every hex or base64-like token in it, as the key."""
    settings, volume, key_file, persons = deployment
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        stored = dict(con.execute("select nir_lopenr, fnr_pseudonym from raw.personer").fetchall())
    finally:
        con.close()
    target = {lopenr: stored[lopenr] for lopenr in list(stored)[:20]}
    candidates: set[bytes] = set()
    for path in volume.rglob("*"):
        if path.is_file() and path.stat().st_size < 100_000_000:
            data = path.read_bytes()
            candidates.add(data.strip())
            candidates |= set(re.findall(rb"[A-Za-z0-9_\-+/=]{16,128}", data))
    assert len(candidates) > 10

    def reidentified(keys: set[bytes]) -> int:
        found = 0
        for key in keys:
            for lopenr, pseudonym in target.items():
                number = persons[lopenr][0]
                if hmac.new(key, number.encode(), sha256).hexdigest() == pseudonym:
                    found += 1
        return found

    assert reidentified(candidates) == 0
    # the attack itself works: with the key it finds every one of them
    assert reidentified({key_file.read_bytes().strip()}) == len(target)


def test_the_deployed_run_refused_the_old_layout(deployment):
    _, volume, _, _ = deployment
    inside = volume / "secrets" / "pseudonym.key"
    with pytest.raises(ConfigError, match="inside the data folder"):
        load_settings(data_dir=volume, deployment="deployed", pseudonym_key_file=inside).key_bytes()
