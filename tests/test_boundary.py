"""Issue #12, finding by finding: each test failed on main before the fix.

The delivery boundary: whatever the bytes, a delivery is loaded, refused (exit 3, copied to
quarantine with a one-line reason) or held (exit 3, --accept-anomaly); a busy warehouse is
exit 4; never a traceback, never a value of personer.csv in a message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
import small_delivery
import yaml

from nir import errors
from nir.config import ConfigError, load_settings
from nir.contracts import nir_export as spec
from nir.delivery.check import check_delivery
from nir.delivery.load import load_delivery, read_load_log
from nir.delivery.manifest import refresh_manifest, write_delivery
from nir.errors import ContractError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
KEY = "k" * 32
SNAP = date(2024, 2, 1)
FNR = "01110097111"  # the number of the report: not valid, but 11 digits in clear
VALID_FNR = small_delivery._fnr("230787", "301")


def nir(*args: str, data: Path, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NIR_")}
    full |= {"NIR_DATA_DIR": str(data), "NIR_PSEUDONYM_KEY": KEY, "COLUMNS": "80", **env}
    return subprocess.run(
        [sys.executable, "-m", "nir", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
        timeout=180,
    )


def one_line_error(proc: subprocess.CompletedProcess, code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


def everything_written(data: Path) -> bytes:
    """Logs and quarantine reports (not the copied delivery files: they are the input)."""
    out = b""
    for p in sorted(data.rglob("*")):
        if p.is_file() and p.name not in {*spec.FILES_BY_NAME, spec.MANIFEST}:
            if p.suffix in (".duckdb", ".wal", ".lock"):
                continue
            out += p.read_bytes()
    return out


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings(data_dir=tmp_path / "data", pseudonym_key=KEY)


def plant(d: Path, name: str, column: str, value: str, row: int = 1) -> None:
    p = d / name
    lines = p.read_bytes().split(b"\n")
    header = lines[0].decode().split(";")
    fields = lines[row].split(b";")
    fields[header.index(column)] = value.encode()
    lines[row] = b";".join(fields)
    p.write_bytes(b"\n".join(lines))
    refresh_manifest(d)


# --- 1. key separation -------------------------------------------------------------------------
def test_1_deployed_run_refuses_a_key_file_inside_the_data_folder(tmp_path):
    data = tmp_path / "data"
    key = data / "secrets" / "pseudonym.key"
    key.parent.mkdir(parents=True)
    key.write_text("x" * 64)
    s = load_settings(data_dir=data, deployment="deployed", pseudonym_key_file=key)
    with pytest.raises(ConfigError, match="inside the data folder"):
        s.key_bytes()
    # a symlink from outside into the data folder is resolved, not trusted
    outside = tmp_path / "secrets" / "key"
    outside.parent.mkdir()
    outside.symlink_to(key)
    with pytest.raises(ConfigError, match="inside the data folder"):
        load_settings(data_dir=data, deployment="deployed", pseudonym_key_file=outside).key_bytes()
    # nor does a deployed run make up a key of its own under data/secrets/
    with pytest.raises(ConfigError, match="NIR_PSEUDONYM_KEY_FILE"):
        load_settings(data_dir=tmp_path / "other", deployment="deployed").key_bytes()
    assert not (tmp_path / "other").exists()


def test_1_deployed_load_refuses_with_one_line(tmp_path):
    data = tmp_path / "data"
    d = small_delivery.make(data / "landing")
    key = data / "secrets" / "pseudonym.key"
    key.parent.mkdir(parents=True)
    key.write_text("y" * 64)
    full = {k: v for k, v in os.environ.items() if not k.startswith("NIR_")}
    full |= {"NIR_DATA_DIR": str(data), "NIR_DEPLOYMENT": "deployed"}
    full["NIR_PSEUDONYM_KEY_FILE"] = str(key)
    proc = subprocess.run(
        [sys.executable, "-m", "nir", "load", str(d)],
        capture_output=True,
        text=True,
        env=full,
        timeout=180,
    )
    line = one_line_error(proc, 2)
    assert "inside the data folder" in line and str(key) in line
    assert not (data / "warehouse").exists()


def test_1_embedded_key_note_printed_once(tmp_path, capfd):
    s = load_settings(data_dir=tmp_path / "data")
    s.key_bytes()
    s.key_bytes()
    load_settings(data_dir=tmp_path / "data").key_bytes()
    err = capfd.readouterr().err
    assert err.count("inside the data folder (embedded default)") == 1


def test_1_compose_keeps_the_key_out_of_the_data_volume_and_other_containers():
    doc = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    with_key = [n for n, s in services.items() if "nir_pseudonym_key" in (s.get("secrets") or [])]
    assert with_key == ["airflow-scheduler"]  # the LocalExecutor runs the loads there
    env = services["airflow-scheduler"]["environment"]
    assert env["NIR_DEPLOYMENT"] == "deployed"
    assert env["NIR_PSEUDONYM_KEY_FILE"] == "/run/secrets/nir_pseudonym_key"
    data_mount = "/data"
    assert not env["NIR_PSEUDONYM_KEY_FILE"].startswith(data_mount + "/")
    for name, svc in services.items():
        if name.startswith("airflow"):
            assert svc["environment"]["NIR_DEPLOYMENT"] == "deployed", name
            if name != "airflow-scheduler":
                assert "NIR_PSEUDONYM_KEY_FILE" not in svc["environment"], name
            assert "NIR_PSEUDONYM_KEY" not in svc["environment"], name


def test_1_raw_personer_holds_no_birth_date(settings):
    load_delivery(settings, small_delivery.make(settings.landing))
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        cols = {r[0]: r[1] for r in con.execute("describe raw.personer").fetchall()}
        years = con.execute("select nir_lopenr, fodselsaar from raw.personer order by 1").fetchall()
    finally:
        con.close()
    assert "fodselsdato" not in cols
    assert [c for c, t in cols.items() if t == "DATE"] == ["snapshot_date", "bosettingsdato"]
    assert years == [(1, 1985), (2, 1992), (3, 1978)]


def test_1_an_old_warehouse_is_reduced_to_birth_years(settings):
    """A warehouse loaded before the change keeps no birth date once the next load runs."""
    settings.warehouse.parent.mkdir(parents=True)
    con = duckdb.connect(str(settings.warehouse))
    cols = [
        ("fodselsdato", "DATE") if n == "fodselsaar" else (n, t)
        for n, t in spec.raw_columns(spec.PERSONER)
    ]
    con.execute("create schema raw")
    con.execute(f"create table raw.personer ({', '.join(f'{n} {t}' for n, t in cols)})")
    con.execute(
        "insert into raw.personer (snapshot_date, nir_lopenr, fodselsdato) "
        "values ('2024-01-01', 9, '1970-05-17')"
    )
    con.close()
    load_delivery(settings, small_delivery.make(settings.landing))
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        names = [r[0] for r in con.execute("describe raw.personer").fetchall()]
        old = con.execute("select fodselsaar from raw.personer where nir_lopenr = 9").fetchall()
        n = con.execute("select count(*) from raw.personer").fetchone()[0]
    finally:
        con.close()
    assert "fodselsdato" not in names and old == [(1970,)] and n == 4


# --- 2. say where, never what ------------------------------------------------------------------
def test_2_a_fodselsnummer_in_the_wrong_column_is_never_echoed(tmp_path):
    data = tmp_path / "data"
    d = small_delivery.make(data / "landing")
    plant(d, "personer.csv", "bosatt_kommune", FNR, row=2)
    proc = nir("load", str(d), data=data)
    line = one_line_error(proc, 3)
    assert "personer.csv line 3, column bosatt_kommune" in line
    assert FNR not in proc.stderr + proc.stdout
    written = everything_written(data)
    assert FNR.encode() not in written
    assert (next((data / "quarantine").glob("*/REJECTED.txt"))).exists()
    assert read_load_log(load_settings(data_dir=data))[-1]["outcome"] == "rejected"


def test_2_no_value_of_personer_appears_in_any_message(tmp_path):
    """Every column of personer.csv spoilt with text of its own: not one of them is shown."""
    t = small_delivery.tables()
    for i, column in enumerate(spec.PERSONER.header):
        d = write_delivery(tmp_path / str(i), SNAP, t)
        plant(d, "personer.csv", column, "Q" + "7" * 3 + "secretvalue")
        for p in check_delivery(d, load_settings(data_dir=tmp_path / "x")):
            assert "secretvalue" not in str(p), (column, str(p))


# --- 3. one boundary for bad input -------------------------------------------------------------
def _cr_only(d: Path) -> None:
    p = d / "vedtak.csv"
    p.write_bytes(p.read_bytes().replace(b"\n", b"\r"))
    refresh_manifest(d)


def _stray_cr_in_header(d: Path) -> None:
    p = d / "deltakelser.csv"
    p.write_bytes(p.read_bytes().replace(b"programkommune", b"program\rkommune", 1))
    refresh_manifest(d)


def _huge_integer(d: Path) -> None:
    (d / "manifest.json").write_text('{"contract_version": ' + "9" * 5000 + "}")


def _deep(d: Path) -> None:
    (d / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)


def _five_mb_string(d: Path) -> None:
    doc = json.loads((d / "manifest.json").read_text())
    doc["kind"] = "x" * 5_000_000
    (d / "manifest.json").write_text(json.dumps(doc))


MALFORMED = {
    "CR-only line ends": (_cr_only, "vedtak.csv line 1", "carriage return"),
    "stray CR in a header": (_stray_cr_in_header, "deltakelser.csv line 1", "carriage return"),
    "5000-digit integer": (_huge_integer, "manifest.json", "18 digits"),
    "nested 100 000 deep": (_deep, "manifest.json", "over the limit"),
    "5 MB string": (_five_mb_string, "manifest.json", "over the limit"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_3_malformed_input_is_refused_not_crashed(tmp_path, case):
    spoil, where, what = MALFORMED[case]
    data = tmp_path / "data"
    d = small_delivery.make(data / "landing")
    spoil(d)
    files_before = {p.name: p.read_bytes() for p in d.iterdir()}
    proc = nir("load", str(d), data=data)
    line = one_line_error(proc, 3)
    assert where in line and what in line, line
    assert len(line) < 600
    (q,) = (data / "quarantine").iterdir()
    assert (q / "REJECTED.txt").exists()
    log = read_load_log(load_settings(data_dir=data))
    assert log[-1]["outcome"] == "rejected"
    assert len(data.joinpath("logs", "load_log.jsonl").read_bytes()) < 5000  # nothing echoed
    assert {p.name: p.read_bytes() for p in d.iterdir()} == files_before  # left as delivered


def test_3_manifest_nesting_is_capped_below_the_size_limit(tmp_path):
    d = small_delivery.make(tmp_path / "in")
    doc = json.loads((d / "manifest.json").read_text())
    doc["kind"] = [[[[[[[[["monthly"]]]]]]]]]
    (d / "manifest.json").write_text(json.dumps(doc))
    (problem,) = check_delivery(d, load_settings(data_dir=tmp_path / "x"))
    assert "nested deeper than 8" in str(problem)


# --- 4. paths resolved; an input folder is never moved or emptied ------------------------------
def test_4_load_dot_from_inside_the_delivery(tmp_path):
    data = tmp_path / "data"
    d = small_delivery.make(data / "landing")
    files = sorted(p.name for p in d.iterdir())
    proc = nir("load", ".", data=data, cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert "2024-02-01: loaded" in proc.stdout
    assert sorted(p.name for p in d.iterdir()) == files
    assert not (data / "quarantine").exists()


def test_4_a_rejected_delivery_in_the_landing_area_is_copied_not_moved(settings):
    d = small_delivery.make(settings.landing)
    (d / "tiltak.csv").write_bytes((d / "tiltak.csv").read_bytes() + b"x")
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    with pytest.raises(ContractError, match="quarantined in"):
        load_delivery(settings, d)
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    (q,) = settings.quarantine_dir.iterdir()
    assert {p.name for p in q.iterdir()} == {*before, "REJECTED.txt", "rejected.json"}
    assert (q / "tiltak.csv").read_bytes() == before["tiltak.csv"]


# --- 5. consistency the contract missed --------------------------------------------------------
def test_5_tiltak_person_must_equal_its_deltakelse_person(settings):
    t = small_delivery.tables()
    t["tiltak"][1]["nir_lopenr"] = 1  # its deltakelse 20 belongs to person 2
    d = write_delivery(settings.landing, SNAP, t)
    with pytest.raises(ContractError) as exc:
        load_delivery(settings, d)
    assert "tiltak.csv line 3, column nir_lopenr" in str(exc.value)
    assert "deltakelse_id" in str(exc.value)
    assert not settings.warehouse.exists()


def _empty(landing: Path, snapshot: date = SNAP) -> Path:
    return write_delivery(landing, snapshot, {})


def test_5_an_empty_register_is_held(tmp_path):
    data = tmp_path / "data"
    d = _empty(data / "landing")
    check = nir("check", str(d), data=data)
    assert check.returncode == 3 and "empty" in check.stderr and "--accept-anomaly" in check.stderr
    load = nir("load", str(d), data=data)
    line = one_line_error(load, 3)
    assert "held" in line and "empty" in line and "--accept-anomaly" in line
    assert sorted(p.name for p in d.iterdir()) == sorted([*spec.FILES_BY_NAME, spec.MANIFEST])
    assert read_load_log(load_settings(data_dir=data))[-1]["outcome"] == "held"
    accepted = nir("load", "--accept-anomaly", str(d), data=data)
    assert accepted.returncode == 0, accepted.stderr
    assert "loaded" in accepted.stdout


def test_5_a_snapshot_dated_after_today_is_held(tmp_path):
    data = tmp_path / "data"
    d = small_delivery.make(data / "landing", date(2031, 1, 1))
    check = nir("check", str(d), data=data)
    assert check.returncode == 3 and "after today" in check.stderr
    s = load_settings(data_dir=data, pseudonym_key=KEY)
    with pytest.raises(errors.DeliveryHeld, match="2031-01-01, after today"):
        load_delivery(s, d)
    assert not s.warehouse.exists() or not _snapshots(s)
    assert load_delivery(s, d, accept_anomaly=True).outcome == "loaded"


def _snapshots(s) -> list:
    con = duckdb.connect(str(s.warehouse), read_only=True)
    try:
        return con.execute("select snapshot_date from raw.leveranser order by 1").fetchall()
    finally:
        con.close()


def test_5_a_drop_in_rows_against_the_previous_snapshot_is_held(settings):
    load_delivery(settings, small_delivery.make(settings.landing, date(2024, 1, 1)))
    t = small_delivery.tables()
    t["vedtak"] = t["vedtak"][:1]  # 2 -> 1 rows: 50 % fewer
    d = write_delivery(settings.landing, SNAP, t)
    with pytest.raises(errors.DeliveryHeld) as exc:
        load_delivery(settings, d)
    message = str(exc.value)
    assert "vedtak has 1 rows, 1 (50%) fewer than snapshot 2024-01-01 (limit 20%)" in message
    assert "--accept-anomaly" in message and not exc.value.transient
    assert _snapshots(settings) == [(date(2024, 1, 1),)]
    assert d.exists() and (d / "manifest.json").exists()
    (held,) = settings.quarantine_dir.glob("*-held/HELD.txt")
    assert "--accept-anomaly" in held.read_text()
    # a configurable share; and an explicit acceptance loads it
    lenient = load_settings(data_dir=settings.data_dir, pseudonym_key=KEY, max_row_drop_share=0.6)
    assert load_delivery(lenient, d).outcome == "loaded"


def test_5_the_previous_snapshot_is_the_newest_older_one(settings):
    """Loaded out of order: a later, bigger snapshot does not hold an earlier one."""
    big = small_delivery.tables()
    load_delivery(settings, write_delivery(settings.landing, date(2024, 3, 1), big))
    assert load_delivery(settings, small_delivery.make(settings.landing, SNAP)).outcome == "loaded"


def test_5_a_symlinked_manifest_is_refused(tmp_path):
    d = small_delivery.make(tmp_path / "in")
    real = tmp_path / "elsewhere.json"
    (d / "manifest.json").rename(real)
    (d / "manifest.json").symlink_to(real)
    (problem,) = check_delivery(d, load_settings(data_dir=tmp_path / "x"))
    assert problem.file == "manifest.json" and "symlink" in problem.message


def test_5_held_delivery_fails_the_dag_task_at_once(airflow_home):
    sys.path.insert(0, str(PROJECT_ROOT / "dags"))
    try:
        from _nir_common import fail_fast
        from airflow.sdk.exceptions import AirflowFailException
    finally:
        sys.path.pop(0)
    with (
        pytest.raises(AirflowFailException, match=r"held, not loaded.*accept_anomaly"),
        fail_fast(),
    ):
        raise errors.DeliveryHeld("2024-02-01", ["it is empty (no rows in any file)"])
    for dag in ("nir_monthly.py", "nir_nightly.py"):
        text = (PROJECT_ROOT / "dags" / dag).read_text()
        assert '"accept_anomaly": Param(' in text
        assert "accept_anomaly=accept" in text


# --- 6. busy means busy -----------------------------------------------------------------------
def test_6_a_foreign_reader_makes_load_busy_not_a_traceback(tmp_path):
    data = tmp_path / "data"
    s = load_settings(data_dir=data, pseudonym_key=KEY)
    load_delivery(s, small_delivery.make(s.landing, date(2024, 1, 1)))
    d = small_delivery.make(s.landing, SNAP)
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); time.sleep(60)",
            str(s.warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "open"
        proc = nir("load", str(d), data=data, NIR_LOCK_TIMEOUT_SECONDS="1")
    finally:
        reader.kill()
        reader.wait()
    line = one_line_error(proc, 4)
    assert "busy" in line and str(s.warehouse) in line and "run again" in line
    assert re.search(r"process \d+", line)


def test_6_connect_raises_busy_for_any_duckdb_lock_conflict(tmp_path):
    from nir.warehouse import connect

    s = load_settings(data_dir=tmp_path / "data", lock_timeout_seconds=0.5)
    connect(s).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('open', flush=True); time.sleep(60)",
            str(s.warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(errors.WarehouseBusyError, match="busy"):
            connect(s, read_only=True)
    finally:
        holder.kill()
        holder.wait()


def test_6_held_open_shares_one_open_of_the_warehouse_and_frees_it_after(tmp_path):
    """Inside held_open every connect() is a cursor on one DuckDB instance (a database
    attached through one is seen through the others: attachments are the instance's);
    after the block the file is closed, so another process can open it for writing."""
    from nir.warehouse import connect, held_open, writer_lock

    s = load_settings(data_dir=tmp_path / "data", lock_timeout_seconds=0.5)
    connect(s).close()
    with writer_lock(s), held_open(s):
        first = connect(s)
        first.execute("attach ':memory:' as probe")
        second = connect(s, read_only=True)
        names = {
            r[0] for r in second.execute("select database_name from duckdb_databases()").fetchall()
        }
        assert "probe" in names
        first.close()
        second.close()
    after = connect(s)
    names = {r[0] for r in after.execute("select database_name from duckdb_databases()").fetchall()}
    after.close()
    assert "probe" not in names
    writer = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; duckdb.connect(sys.argv[1]).close()",
            str(s.warehouse),
        ],
        capture_output=True,
        text=True,
    )
    assert writer.returncode == 0, writer.stderr


# --- 7. deployment defaults --------------------------------------------------------------------
def test_7_compose_has_no_default_secrets_and_reads_them_from_files():
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    doc = yaml.safe_load(text)
    assert not re.search(r"\$\{[A-Z_]*(PASSWORD|SECRET|FERNET|KEY)[A-Z_]*:-", text)
    env = doc["x-airflow-env"]
    for plain in (
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    ):
        assert plain not in env, f"{plain} as a plain environment value"
        assert "/run/secrets/" in env[plain + "_CMD"]
    postgres = doc["services"]["postgres"]["environment"]
    assert "POSTGRES_PASSWORD" not in postgres
    assert postgres["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    for name in ("postgres_password", "airflow_jwt_secret", "airflow_fernet_key"):
        # compose refuses to start without the folder of secret files: no default
        assert doc["secrets"][name]["file"].startswith("${NIR_SECRETS_DIR:?")
    # log folders are not world-readable
    assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS"] == "0o700"
    assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS"] == "0o600"
    assert "chmod 0700 /opt/airflow/logs" in (PROJECT_ROOT / "Dockerfile").read_text()


def test_7_embedded_airflow_logs_are_owner_only(tmp_path):
    from nir.orchestration import embedded

    s = load_settings(data_dir=tmp_path / "data")
    env = embedded.airflow_environment(s)
    assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS"] == "0o700"
    assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS"] == "0o600"
    embedded._private_dir(embedded.run_log(s).parent)
    assert (embedded.run_log(s).parent.stat().st_mode & 0o077) == 0
