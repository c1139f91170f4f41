"""One configuration object for the whole pipeline.

Precedence, highest first:

1. keyword arguments to :func:`load_settings` (tests, the DAGs);
2. environment variables with the prefix ``NIR_`` (``NIR_DATA_DIR``, ``NIR_SUPPRESSION_THRESHOLD``);
3. the TOML file named by ``NIR_CONFIG`` (flat keys, the same names without the prefix);
4. the embedded defaults below, which put everything the pipeline writes under ``data/``.

Paths that are not set derive from ``data_dir``, so ``NIR_DATA_DIR`` moves every output and
two runs can live side by side.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    """What is kept between data directories (a parsed dbt project, a migrated Airflow
    database): ``$NIR_CACHE_DIR``, else ``$XDG_CACHE_HOME/nir``, else ``~/.cache/nir``.
    Everything in it is derived from code and versions, never from data."""
    root = os.environ.get("NIR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nir"
    )
    return Path(root)


class ConfigError(Exception):
    """A configuration problem, with one line saying what to do."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NIR_", extra="forbid", frozen=True)

    # --- where things live -------------------------------------------------------------
    deployment: Literal["embedded", "deployed"] = Field(
        "embedded",
        description="'deployed' (docker-compose.yml sets it) refuses a pseudonym key file "
        "inside data_dir and never creates a key by itself.",
    )
    data_dir: Path = Field(Path("data"), description="Root of everything the pipeline writes.")
    landing_dir: Path | None = Field(None, description="Where deliveries arrive.")
    warehouse_path: Path | None = Field(None, description="The DuckDB warehouse file.")
    dbt_project_dir: Path = Field(PROJECT_ROOT / "dbt_project")

    # --- pseudonymisation ----------------------------------------------------------------
    pseudonym_key: SecretStr | None = Field(
        None, description="HMAC key for fødselsnummer pseudonyms (NIR_PSEUDONYM_KEY)."
    )
    pseudonym_key_file: Path | None = Field(
        None,
        description="File holding the key; the embedded default creates one under "
        "data/secrets/ on first use (owner-only).",
    )

    lock_timeout_seconds: float = Field(
        600.0, description="How long a writer waits for another run to release the warehouse."
    )

    # --- input limits --------------------------------------------------------------------
    max_file_bytes: int = Field(2 * 1024**3, description="Largest CSV file accepted.")
    max_field_chars: int = Field(1000, description="Longest field accepted in a CSV.")
    max_manifest_bytes: int = Field(64 * 1024, description="Largest manifest.json accepted.")
    max_manifest_depth: int = Field(8, description="Deepest nesting accepted in manifest.json.")

    # --- sanity of a delivery (held unless loaded with --accept-anomaly) ------------------
    max_row_drop_share: float = Field(
        0.20,
        ge=0.0,
        le=1.0,
        description="Hold a snapshot when a file has fewer rows than the previous snapshot's "
        "by more than this share.",
    )

    # --- statistics rules ----------------------------------------------------------------
    chain_gap_days: int = 90
    registration_grace_months: int = 2
    suppression_threshold: int = 3
    min_share_denominator: int = 5
    annual_deadline_month: int = 2
    annual_deadline_day: int | None = Field(
        None, description="Day of the deadline in its month; empty = the month's last day."
    )

    # --- publication gate ----------------------------------------------------------------
    gate_max_ikke_registrert_share: float = 0.05
    gate_max_error_spell_share: float = 0.10
    dbt_in_process: bool = Field(
        True,
        description="Run dbt in the worker's own process (dbt's programmatic runner: dbt is "
        "imported once per process); off: a dbt subprocess per command.",
    )
    dbt_log_level: Literal["debug", "info", "warn", "error", "none"] = Field(
        "info",
        description="What dbt writes to its log (data/dbt/logs/dbt.log): info has every "
        "node's outcome and every error, and each node's SQL is in data/dbt/target/run/; "
        "debug adds every statement and dbt's internals (~0.1 s of each dbt command at "
        "demo scale: set it to read a failure closely).",
    )
    embedded_sensor_timeout: float = Field(
        20.0,
        gt=0,
        description="Seconds the embedded worker's delivery sensor waits before the run fails "
        "(`nir demo`, `nir backfill`: the deliveries are on disk before they start); the "
        "deployed DAGs wait up to two days.",
    )
    disclosure_processes: int = Field(
        0,
        ge=0,
        description="Processes that decide a publication's reference years at the same time "
        "(the years share no cell: nir.publication.years); 0: one per core this process may "
        "use; 1: all in this process.",
    )
    gx_data_docs: Literal["on_failure", "always"] = Field(
        "on_failure",
        description="When a suite renders GX's Data Docs (HTML per validation; seconds per "
        "suite): only when it fails, or always. The results page and the JSON are always "
        "written.",
    )

    # --- the IMDi tracker (nir.kommune.tracker) ----------------------------------------------
    tracker_target_share: float = Field(
        0.98,
        ge=0.0,
        le=1.0,
        description="A kommune is behind when the projected share without findings of one of "
        "the deadline notice's controls is below this at the deadline.",
    )

    @field_validator("data_dir", "landing_dir", "warehouse_path", "pseudonym_key_file")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        # absolute from the start: dbt, Airflow tasks and subprocesses run in other folders
        return v.expanduser().absolute() if v is not None else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("NIR_CONFIG")
        if config_file:
            path = Path(config_file).expanduser()
            if not path.is_file():
                raise ConfigError(
                    f"NIR_CONFIG points to {path}, which does not exist: "
                    "create it or unset NIR_CONFIG to use the embedded defaults."
                )
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # --- derived paths -------------------------------------------------------------------
    @property
    def landing(self) -> Path:
        return self.landing_dir or self.data_dir / "landing"

    @property
    def warehouse(self) -> Path:
        return self.warehouse_path or self.data_dir / "warehouse" / "warehouse.duckdb"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def load_log(self) -> Path:
        return self.logs_dir / "load_log.jsonl"

    @property
    def published_dir(self) -> Path:
        return self.data_dir / "published"

    @property
    def published_db(self) -> Path:
        # not statistikk.duckdb: a file named like its schema makes statistikk.<table>
        # ambiguous when opened (catalog and schema would share the name)
        return self.published_dir / "nir.duckdb"

    @property
    def published_record(self) -> Path:
        """The record of the newest publication, beside the database (``nir status``)."""
        return self.published_dir / "statistikk.json"

    @property
    def suppression_cache(self) -> Path:
        """The components the last publication solved (``ComponentCache``): no figures, only
        hashes and outcomes; deleting it costs one slower publication."""
        return self.data_dir / "cache" / "suppression.json"

    @property
    def disclosure_cache(self) -> Path:
        """The years the last publication decided and audited (``nir.publication.years``):
        owner-only, since an audit finding holds a hidden cell's value; deleting it costs one
        slower publication."""
        return self.data_dir / "cache" / "disclosure.json"

    @property
    def kontroll_dir(self) -> Path:
        return self.data_dir / "kontroll"

    @property
    def gx_dir(self) -> Path:
        return self.data_dir / "gx"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    def annual_deadline(self, year: int) -> date:
        """The registration deadline for reference year ``year`` (in year + 1)."""
        import calendar

        y, m = year + 1, self.annual_deadline_month
        day = self.annual_deadline_day or calendar.monthrange(y, m)[1]
        return date(y, m, day)

    @property
    def key_file(self) -> Path:
        """Where the key is read from when it is not given by ``NIR_PSEUDONYM_KEY``."""
        return self.pseudonym_key_file or self.secrets_dir / "pseudonym.key"

    def check_key_location(self) -> None:
        """Refuse a deployed run whose key file lies under ``data_dir``.

        Whoever can read the data folder (every container mounts it) could otherwise recompute
        every pseudonym from a list of candidate numbers. The embedded default keeps its key in
        ``data/secrets/`` and says so when it creates it.
        """
        if self.deployment != "deployed" or self.pseudonym_key is not None:
            return
        if self.pseudonym_key_file is None:
            raise ConfigError(
                "a deployed run needs NIR_PSEUDONYM_KEY_FILE (a secret file outside the data "
                "folder, see docs/operations.md); it never creates a key by itself"
            )
        key = self.pseudonym_key_file.resolve()
        data = self.data_dir.resolve()
        if key.is_relative_to(data):
            raise ConfigError(
                f"the pseudonym key file {key} is inside the data folder {data}: a deployed run "
                "keeps the key apart from the data (a secret file mounted only where deliveries "
                "are loaded, docs/operations.md); move it and set NIR_PSEUDONYM_KEY_FILE"
            )

    def key_bytes(self) -> bytes:
        """The pseudonymisation key. Never logged, never written into the warehouse."""
        self.check_key_location()
        if self.pseudonym_key is not None:
            key = self.pseudonym_key.get_secret_value().encode()
        else:
            path = self.key_file
            if not path.exists():
                if self.pseudonym_key_file is not None:
                    raise ConfigError(
                        f"pseudonym key file {path} does not exist: create it, or set "
                        "NIR_PSEUDONYM_KEY."
                    )
                if write_new_key(path):
                    print(
                        f"note: created the pseudonym key {path} inside the data folder "
                        "(embedded default); a deployment keeps it elsewhere "
                        "(docs/operations.md)",
                        file=sys.stderr,
                    )
            try:
                key = path.read_text().strip().encode()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"the pseudonym key file {path} cannot be read ({type(exc).__name__}): "
                    "check its owner and mode"
                ) from None
        if len(key) < 16:
            raise ConfigError(
                "the pseudonym key is shorter than 16 bytes: use at least 32 random bytes "
                "(for example `python -c 'import secrets; print(secrets.token_hex(32))'`)."
            )
        return key


def write_new_key(path: Path, *, replace: bool = False) -> bool:
    """Write a new random key to ``path``, owner-only and atomically.

    With ``replace`` (a rotation) the new key takes the old one's place; without it the key is
    only created when there is none, and a process that loses that race keeps the winner's.
    Returns whether this call wrote the key.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
        f.flush()
        os.fsync(f.fileno())
    written = True
    try:
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                written = False
    finally:
        tmp.unlink(missing_ok=True)
    return written


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; ``overrides`` win over environment and file."""
    try:
        return Settings(**overrides)
    except ConfigError:
        raise
    except Exception as exc:  # pydantic's ValidationError: make it one clear line
        raise ConfigError(f"invalid configuration: {exc}".replace("\n", " ")) from exc
