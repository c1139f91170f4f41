"""One configuration: embedded defaults, a TOML file through NIR_CONFIG, NIR_* overrides."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import pytest

from nir.config import ConfigError, load_settings


def test_embedded_defaults_put_everything_under_data(monkeypatch):
    for var in ("NIR_CONFIG", "NIR_DATA_DIR", "NIR_WAREHOUSE_PATH", "NIR_LANDING_DIR"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    data = Path.cwd() / "data"  # made absolute: subprocesses run in other folders
    assert s.data_dir == data
    assert s.warehouse == data / "warehouse" / "warehouse.duckdb"
    assert s.landing == data / "landing"
    assert s.published_db == data / "published" / "nir.duckdb"
    assert s.suppression_threshold == 3 and s.min_share_denominator == 5
    assert s.gate_max_ikke_registrert_share == 0.05 and s.gate_max_error_spell_share == 0.10


def test_data_dir_env_moves_every_output(monkeypatch, tmp_path):
    monkeypatch.setenv("NIR_DATA_DIR", str(tmp_path / "other"))
    s = load_settings()
    for p in (s.warehouse, s.landing, s.quarantine_dir, s.published_db, s.kontroll_dir, s.load_log):
        assert p.is_relative_to(tmp_path / "other")


def test_config_file_then_env_then_arguments(monkeypatch, tmp_path):
    cfg = tmp_path / "nir.toml"
    cfg.write_text('data_dir = "/srv/nir"\nsuppression_threshold = 5\nchain_gap_days = 60\n')
    monkeypatch.setenv("NIR_CONFIG", str(cfg))
    monkeypatch.setenv("NIR_SUPPRESSION_THRESHOLD", "4")
    s = load_settings(chain_gap_days=30)
    assert s.data_dir == Path("/srv/nir")  # from the file
    assert s.suppression_threshold == 4  # env beats file
    assert s.chain_gap_days == 30  # arguments beat env


def test_missing_config_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("NIR_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"NIR_CONFIG points to .*nope\.toml"):
        load_settings()


def test_unknown_setting_is_rejected(monkeypatch, tmp_path):
    cfg = tmp_path / "nir.toml"
    cfg.write_text("supression_threshold = 5\n")  # misspelt
    monkeypatch.setenv("NIR_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="supression_threshold"):
        load_settings()


def test_annual_deadline_is_end_of_february():
    s = load_settings()
    assert s.annual_deadline(2023) == date(2024, 2, 29)  # leap year
    assert s.annual_deadline(2024) == date(2025, 2, 28)
    assert load_settings(annual_deadline_month=3, annual_deadline_day=15).annual_deadline(
        2024
    ) == date(2025, 3, 15)


def test_generated_key_is_owner_only_and_stable(tmp_path):
    s = load_settings(data_dir=tmp_path)
    key = s.key_bytes()
    path = tmp_path / "secrets" / "pseudonym.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings(data_dir=tmp_path).key_bytes() == key
    assert len(key) >= 32


def test_key_from_environment_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("NIR_PSEUDONYM_KEY", "x" * 40)
    assert load_settings(data_dir=tmp_path).key_bytes() == b"x" * 40
    assert not (tmp_path / "secrets").exists()


def test_short_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="shorter than 16 bytes"):
        load_settings(data_dir=tmp_path, pseudonym_key="short").key_bytes()


def test_deployment_and_sanity_settings(monkeypatch, tmp_path):
    s = load_settings(data_dir=tmp_path)
    assert s.deployment == "embedded" and s.max_row_drop_share == 0.20
    assert s.max_manifest_bytes == 64 * 1024 and s.max_manifest_depth == 8
    monkeypatch.setenv("NIR_DEPLOYMENT", "deployed")
    monkeypatch.setenv("NIR_MAX_ROW_DROP_SHARE", "0.5")
    s = load_settings(data_dir=tmp_path)
    assert s.deployment == "deployed" and s.max_row_drop_share == 0.5
    monkeypatch.setenv("NIR_DEPLOYMENT", "production")
    with pytest.raises(ConfigError, match="deployment"):
        load_settings()
    monkeypatch.setenv("NIR_DEPLOYMENT", "deployed")
    monkeypatch.setenv("NIR_MAX_ROW_DROP_SHARE", "1.5")
    with pytest.raises(ConfigError, match="max_row_drop_share"):
        load_settings()


def test_deployed_key_file_outside_the_data_folder_is_used(tmp_path):
    key = tmp_path / "run_secrets" / "nir_pseudonym_key"
    key.parent.mkdir()
    key.write_text("z" * 64 + "\n")
    s = load_settings(data_dir=tmp_path / "data", deployment="deployed", pseudonym_key_file=key)
    assert s.key_bytes() == b"z" * 64
    assert not (tmp_path / "data").exists()  # nothing created in the data folder
