"""nir.warehouse.dbt (dbt in a subprocess) and nir.warehouse.seeds (seeds from the package)."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from fixtures.raw import create_raw, insert

from nir.config import PROJECT_ROOT, load_settings
from nir.contracts import kommuner
from nir.contracts.kontroller import KONTROLLER
from nir.warehouse.dbt import TransformError, build, dbt_vars
from nir.warehouse.seeds import render_seeds, write_seeds

SEEDS = PROJECT_ROOT / "dbt_project" / "seeds"


def seed_rows(name: str) -> list[dict[str, str]]:
    with (SEEDS / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_committed_seeds_equal_what_nir_seeds_writes() -> None:
    for name, text in render_seeds().items():
        assert (SEEDS / name).read_text("utf-8") == text, f"{name} is stale: run `nir seeds`"


def test_the_controls_sql_evaluates_exactly_the_contracts_controls() -> None:
    """One list of controls (nir.contracts.kontroller): the SQL has one branch for each."""
    sql = (PROJECT_ROOT / "dbt_project/models/intermediate/int_kontroller_vurdert.sql").read_text()
    assert sorted(re.findall(r"select\s+'([A-Z_]+)'", sql)) == sorted(KONTROLLER)
    assert [r["kode"] for r in seed_rows("kontroller.csv")] == list(KONTROLLER)


def test_write_seeds_reports_only_changed_files(tmp_path: Path) -> None:
    assert len(write_seeds(tmp_path)) == len(render_seeds())
    assert write_seeds(tmp_path) == []


def test_harmonisation_seed_has_the_split_in_successor_order() -> None:
    rows = [r for r in seed_rows("kommune_harmonisering.csv") if r["kommunenummer"] == "1507"]
    assert [(r["kommunenummer_2024"], r["rekkefolge"]) for r in rows] == [
        ("1508", "1"),
        ("1580", "2"),
    ]
    viken = [r for r in seed_rows("kommune_harmonisering.csv") if r["kommunenummer"] == "3024"]
    assert [r["kommunenummer_2024"] for r in viken] == ["3201"]


@pytest.mark.parametrize(
    ("code", "day"),
    [
        ("3024", date(2022, 5, 1)),
        ("3024", date(2024, 5, 1)),
        ("3201", date(2023, 5, 1)),
        ("3201", date(2024, 1, 1)),
        ("0219", date(2017, 6, 1)),
        ("0219", date(2020, 1, 1)),
        ("1507", date(2023, 12, 31)),
        ("1580", date(2023, 12, 31)),
        ("0301", date(2015, 1, 1)),
    ],
)
def test_kommune_seed_validity_periods_match_the_package(code: str, day: date) -> None:
    valid_in_seed = any(
        r["kommunenummer"] == code
        and date.fromisoformat(r["gyldig_fra"]) <= day
        and (not r["gyldig_til"] or day < date.fromisoformat(r["gyldig_til"]))
        for r in seed_rows("kommuner.csv")
    )
    assert valid_in_seed == kommuner.is_valid(code, day)


def test_dbt_vars_come_from_settings(tmp_path: Path) -> None:
    s = load_settings(
        data_dir=tmp_path,
        suppression_threshold=5,
        min_share_denominator=10,
        chain_gap_days=60,
        registration_grace_months=3,
        annual_deadline_month=3,
        annual_deadline_day=15,
    )
    # no snapshot among them: a var that changes every month would make dbt re-parse the
    # whole project on every build (it goes through NIR_SNAPSHOT instead)
    assert dbt_vars(s) == {
        "suppression_threshold": 5,
        "min_share_denominator": 10,
        "chain_gap_days": 60,
        "registration_grace_months": 3,
        "annual_deadline_month": 3,
        "annual_deadline_day": 15,
    }


def test_build_without_warehouse_says_to_load_first(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path / "data")
    with pytest.raises(TransformError, match="load a delivery first"):
        build(s, date(2024, 2, 1))


def _person(**changes: object) -> dict:
    """One valid raw person row; ``changes`` override columns."""
    row = dict(
        nir_lopenr=1, fnr_pseudonym="p", fnr_gyldig=True, kjonn="K",
        fodselsaar=1990, landbakgrunn="SYR", bosatt_kommune="0301",
        regelverk="INTROL", kategori="RETT_OG_PLIKT", skjermet=False,
        endret_tid=datetime(2024, 1, 1),
    )  # fmt: skip
    return row | changes


@pytest.mark.integration
def test_failing_dbt_test_is_one_line_naming_the_test_and_the_log(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path / "data")
    create_raw(s.warehouse)
    snap = date(2024, 2, 1)
    insert(s.warehouse, snap, "personer", [_person()])
    spell = dict(
        deltakelse_id=7, nir_lopenr=1, programkommune="0301", startdato=date(2023, 1, 1),
        avsluttet_av_system=False, registrert_tid=datetime(2023, 1, 2),
    )  # fmt: skip
    insert(s.warehouse, snap, "deltakelser", [spell, spell])  # a duplicate key
    with pytest.raises(TransformError) as info:
        build(s, snap)
    message = str(info.value)
    assert "\n" not in message
    # the model's checks test, and which of its checks failed on which value
    assert "checks_stg_nir__deltakelser" in message
    assert "unique(deltakelse_id) (7 x2)" in message  # the key, twice
    log = s.data_dir / "dbt" / "logs" / "dbt.log"
    assert str(log) in message
    # the log the message points to exists and holds the failure (dbt in this process), at
    # the settings' level (info: outcomes and errors, not every statement); the SQL the
    # failing test ran is in target/run/
    text = log.read_text("utf-8")
    assert "checks_stg_nir__deltakelser" in text and "[error]" in text
    assert "[debug]" not in text
    assert list((s.data_dir / "dbt" / "target" / "run").rglob("checks_stg_nir__deltakelser*"))
    assert not (PROJECT_ROOT / "dbt_project" / "target").exists()
    # the failing node is read from dbt's result in memory: a build writes no JSON artifacts
    assert not (s.data_dir / "dbt" / "target" / "run_results.json").exists()
    assert not (s.data_dir / "dbt" / "target" / "manifest.json").exists()


def test_a_null_in_a_guarded_column_fails_the_models_checks(tmp_path: Path) -> None:
    """The model's ``checks`` test guards what its per-column not_null tests guarded."""
    s = load_settings(data_dir=tmp_path / "data")
    create_raw(s.warehouse)
    snap = date(2024, 2, 1)
    insert(s.warehouse, snap, "personer", [_person(regelverk=None)])
    with pytest.raises(TransformError) as info:
        build(s, snap)
    assert "checks_stg_nir__personer" in str(info.value)
    assert "not_null(regelverk) (1 rows)" in str(info.value)


@pytest.mark.integration
@pytest.mark.parametrize("controls_only", [False, True], ids=["build", "controls-only build"])
def test_checks_against_a_code_list_run_in_every_build(tmp_path: Path, controls_only) -> None:
    """A check that reads a seed (a code list) runs in the build. Excluding the seeds from a
    build by type once excluded every test that read one, so a kjonn outside its code list
    or a tiltakskode outside tiltakskoder passed unseen."""
    s = load_settings(data_dir=tmp_path / "data")
    create_raw(s.warehouse)
    snap = date(2024, 2, 1)
    insert(s.warehouse, snap, "personer", [_person(kjonn="X")])
    with pytest.raises(TransformError) as info:
        build(s, snap, controls_only=controls_only)
    assert "checks_stg_nir__personer" in str(info.value)
    assert "in_kodeliste(kjonn: kjonn) (X)" in str(info.value)

    s = load_settings(data_dir=tmp_path / "data2")
    create_raw(s.warehouse)
    insert(s.warehouse, snap, "personer", [_person()])
    spell = dict(
        deltakelse_id=7, nir_lopenr=1, programkommune="0301", startdato=date(2023, 1, 1),
        sluttdato=date(2023, 6, 1), avslutningsaarsak="ZZ", avsluttet_av_system=False,
        registrert_tid=datetime(2023, 1, 2),
    )  # fmt: skip
    insert(s.warehouse, snap, "deltakelser", [spell])
    with pytest.raises(TransformError) as info:
        build(s, snap, controls_only=controls_only)
    assert "checks_stg_nir__deltakelser" in str(info.value)
    assert "relationships(avslutningsaarsak -> avslutningsaarsaker.kode) (ZZ)" in str(info.value)


def test_handmade_fixture_is_what_its_script_writes(tmp_path: Path) -> None:
    from fixtures.handmade import make_fixture

    from nir.delivery.manifest import write_delivery

    for snapshot in (make_fixture.A, make_fixture.B):
        folder = write_delivery(tmp_path, snapshot, make_fixture.tables(snapshot))
        committed = make_fixture.HERE / snapshot.isoformat()
        for f in sorted(folder.iterdir()):
            assert f.read_bytes() == (committed / f.name).read_bytes(), f"{f.name} is stale"


def test_the_snapshot_reaches_dbt_through_the_environment_not_a_var(tmp_path: Path) -> None:
    from nir.warehouse.dbt import _env

    s = load_settings(data_dir=tmp_path / "data")
    assert _env(s, date(2024, 2, 1))["NIR_SNAPSHOT"] == "2024-02-01"
    assert "NIR_SNAPSHOT" not in _env(s, None)


def test_the_dbt_plugin_refuses_a_snapshot_that_is_not_a_date(monkeypatch) -> None:
    from nir.warehouse.dbt_session import snapshot_from_env

    monkeypatch.setenv("NIR_SNAPSHOT", "2024-13-01")
    with pytest.raises(ValueError, match="NIR_SNAPSHOT='2024-13-01' is not a date"):
        snapshot_from_env()
    monkeypatch.setenv("NIR_SNAPSHOT", "2024-02-01")
    assert snapshot_from_env() == date(2024, 2, 1)


def test_parse_is_kept_per_project_and_reused_by_a_new_data_dir(tmp_path, monkeypatch) -> None:
    """The manifest depends on the project only: a second data dir reads it without dbt."""
    import nir.warehouse.dbt as dbt_mod

    monkeypatch.setenv("NIR_CACHE_DIR", str(tmp_path / "cache"))
    first = load_settings(data_dir=tmp_path / "a")
    manifest = dbt_mod.parse(first)
    assert manifest.is_file()
    (cached,) = (tmp_path / "cache" / "dbt-parse").glob("*/manifest.json")
    assert cached.read_bytes() == manifest.read_bytes()

    def no_dbt(*args, **kwargs):
        raise AssertionError("dbt started although the project is parsed")

    monkeypatch.setattr(dbt_mod, "run_dbt", no_dbt)
    second = load_settings(data_dir=tmp_path / "b")
    assert dbt_mod.parse(second).read_bytes() == manifest.read_bytes()
    # another threshold is another parse (the vars are part of the key)
    other = load_settings(data_dir=tmp_path / "c", suppression_threshold=4)
    with pytest.raises(AssertionError, match="dbt started"):
        dbt_mod.parse(other)


@pytest.mark.parametrize("in_process", [True, False])
def test_dbt_on_a_warehouse_another_process_holds_says_busy(tmp_path: Path, in_process) -> None:
    """dbt meeting DuckDB's file lock is the transient «busy», not a failed build."""
    import subprocess
    import sys

    from nir.errors import WarehouseBusyError
    from nir.warehouse.dbt import run_dbt

    s = load_settings(data_dir=tmp_path / "data", dbt_in_process=in_process)
    create_raw(s.warehouse)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True)"
            "; time.sleep(120)",
            str(s.warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseBusyError, match="in use by another process"):
            run_dbt(
                s, ["run", "--select", "int_regioner"], what="dbt run", snapshot=date(2024, 2, 1)
            )
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.integration
def test_a_process_parses_the_project_once_and_again_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt's parse is kept between the commands of one process (a worker builds and publishes
    every month), and a changed model is parsed again before it is built."""
    import shutil

    from dbt.cli.main import dbtRunner

    project = tmp_path / "dbt_project"
    shutil.copytree(
        PROJECT_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs")
    )
    s = load_settings(data_dir=tmp_path / "data", dbt_project_dir=project)
    create_raw(s.warehouse)
    snap = date(2024, 2, 1)
    insert(s.warehouse, snap, "personer", [_person()])
    commands: list[str] = []
    invoke = dbtRunner.invoke

    def spy(self, args, **kwargs):  # the real dbt, only counted
        commands.append(args[0])
        return invoke(self, args, **kwargs)

    monkeypatch.setattr(dbtRunner, "invoke", spy)
    build(s, snap)
    build(s, snap)
    assert commands.count("parse") == 1
    assert commands.count("build") == 2

    model = project / "models" / "intermediate" / "int_regioner.sql"
    model.write_text(
        model.read_text("utf-8").replace(
            "select 'land' as nivaa, '0000' as region, 'Norge' as region_navn",
            "select 'land' as nivaa, '0000' as region, 'Noreg' as region_navn",
        ),
        "utf-8",
    )
    build(s, snap)
    assert commands.count("parse") == 2
    con = duckdb.connect(str(s.warehouse), read_only=True)
    try:
        navn = con.execute(
            "select region_navn from intermediate.int_regioner where region = '0000'"
        ).fetchone()
    finally:
        con.close()
    assert navn == ("Noreg",)
