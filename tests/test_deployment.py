"""A real deployment: PostgreSQL + the Airflow 3 components of docker-compose.yml, and a backfill.

No Docker engine runs on the development machines, so this starts the same components with
the same configuration directly: the environment and commands are read from
``docker-compose.yml`` (container paths and host names mapped to this machine), PostgreSQL is
a throwaway cluster from Debian's packages under ``tmp_path``, every service listens on
127.0.0.1 on a free port. Then, as an operator would: unpause the DAGs through the REST API,
``airflow backfill create`` three months of ``nir_monthly``, wait for the runs (bounded) and
check the published statistics, and that ``nir_annual`` froze the final figures of 2023
after the 2024-03-01 snapshot was published.

Skipped when PostgreSQL's binaries are absent, except in CI (``CI=true``), where that fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# bounded, not timed: generous enough for a busy 2-core machine (every task is its own process,
# importing dbt and GX), short enough that a hung service fails the run
pytestmark = [pytest.mark.deployment, pytest.mark.timeout(1500)]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
VENV_BIN = Path(sys.executable).parent
SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- helpers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin_dir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 2.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except OSError as exc:  # a service still starting (connection refused, HTTP 404)
            last_exc = exc
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last_exc})")


_VAR = re.compile(r"\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Docker Compose's ``${X}``, ``${X:-default}``, ``${X:?error}`` and ``$$`` (a ``$``)."""

    def sub(m: re.Match[str]) -> str:
        if m.group() == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if variables.get(name):
            return variables[name]
        if op == "-":
            return arg
        raise AssertionError(f"docker-compose.yml needs {name}: {arg}")

    return _VAR.sub(sub, value)


# --- PostgreSQL ------------------------------------------------------------------------------
@dataclass
class Postgres:
    port: int
    user: str
    password: str
    database: str = "airflow"


def _traversable_for_others(path: Path) -> None:
    """Let the postgres user reach ``path`` (search permission only on its parents)."""
    for p in [path, *path.parents]:
        if p == Path("/") or p == Path("/tmp"):
            break
        p.chmod(p.stat().st_mode | 0o001)


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Postgres]:
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        msg = "PostgreSQL binaries not found (apt-get install -y postgresql)"
        if IN_CI:
            pytest.fail(f"{msg}: CI must install them (.ci/run)")
        pytest.skip(msg)
    pg_dir = tmp_path / "pg"
    pg_dir.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        run_as = ["runuser", "-u", "postgres", "--"]
        _traversable_for_others(pg_dir)
        shutil.chown(pg_dir, "postgres", "postgres")
    pg = Postgres(port=free_port(), user="airflow", password=secrets.token_urlsafe(16))
    pwfile = pg_dir / "pwfile"
    pwfile.write_text(pg.password + "\n")
    if run_as:
        shutil.chown(pwfile, "postgres", "postgres")
    data = pg_dir / "data"
    subprocess.run(
        [
            *run_as,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            pg.user,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
        ],
        check=True,
        capture_output=True,
    )
    pwfile.unlink()
    options = f"-h 127.0.0.1 -p {pg.port} -k {pg_dir} -c fsync=off -c max_connections=200"
    pg_ctl = [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*pg_ctl, "-l", str(pg_dir / "postgres.log"), "-o", options, "-w", "-t", "60", "start"],
        check=True,
        capture_output=True,
    )
    try:
        import psycopg2

        con = psycopg2.connect(
            host="127.0.0.1", port=pg.port, user=pg.user, password=pg.password, dbname="postgres"
        )
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f"create database {pg.database}")
        con.close()
        yield pg
    finally:
        stop = subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
        if stop.returncode != 0 and (data / "postmaster.pid").exists():
            pid = int((data / "postmaster.pid").read_text().split()[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# --- Airflow, as docker-compose.yml configures it ------------------------------------------
@dataclass
class Deployment:
    env: dict[str, str]
    api: str
    password: str
    data_dir: Path
    logs: dict[str, Path] = field(default_factory=dict)
    _token: str | None = None

    def airflow(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def request(self, method: str, path: str, body: Any = None) -> Any:
        if self._token is None:
            self._token = self._call(
                "POST", "/auth/token", {"username": "admin", "password": self.password}, token=None
            )["access_token"]
        return self._call(method, path, body, token=self._token)

    def _call(self, method: str, path: str, body: Any, token: str | None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def diagnostics(self) -> str:
        """The failed tasks' errors, then the tail of every service log, for a failing assert."""
        out = []
        task_logs = Path(self.env["AIRFLOW_HOME"]) / "logs"
        for log in sorted(task_logs.glob("dag_id=*/run_id=*/task_id=*/attempt=*.log")):
            errors = re.findall(
                r'"exc_type":"([^"]+)","exc_value":"((?:[^"\\]|\\.){0,400})', log.read_text()
            )
            if errors:
                rel = log.relative_to(task_logs)
                out.append(f"--- task {rel}: " + "; ".join(f"{t}: {v}" for t, v in errors[:1]))
        for name, path in self.logs.items():
            lines = path.read_text(errors="replace").splitlines()[-10:] if path.exists() else []
            out.append(f"--- {name} ({path})\n" + "\n".join(line[:300] for line in lines))
        return "\n".join(out)


def yaml_doc() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_services() -> dict[str, Any]:
    return yaml_doc()["services"]


def host_env(
    compose_env: dict[str, Any],
    variables: dict[str, str],
    paths: dict[str, Path],
    hosts: dict[str, str],
) -> dict[str, str]:
    """The compose environment with container paths and host names mapped to this machine.

    A path is mapped where it is the whole value or a word of it (``cat /run/secrets/x``).
    """
    env: dict[str, str] = {}
    for key, raw in compose_env.items():
        value = interpolate(str(raw), variables)
        for container_path, host_path in paths.items():
            value = re.sub(
                rf"(^|(?<=[\s\"'(]))({re.escape(container_path)})(?=/|$|[\s\"')])",
                lambda _m, h=str(host_path): h,
                value,
            )
        for container_host, host in hosts.items():
            value = value.replace(container_host, host)
        env[key] = value
    return env


def host_command(command: list[str]) -> list[str]:
    return [str(VENV_BIN / "airflow") if c == "airflow" else c for c in command]


@pytest.fixture
def deployment(tmp_path: Path, postgres: Postgres) -> Iterator[Deployment]:
    services = compose_services()
    home = tmp_path / "airflow_home"
    data_dir = tmp_path / "data"
    run_secrets = tmp_path / "run_secrets"  # compose's secret files (/run/secrets/), not in data
    for d in (home / "logs", home / "secrets", data_dir, run_secrets):
        d.mkdir(parents=True, mode=0o700)
    password = secrets.token_urlsafe(12)
    (home / "secrets" / "passwords.json").write_text(json.dumps({"admin": password}))
    from cryptography.fernet import Fernet

    secret_files = {
        "postgres_password": postgres.password,
        "airflow_jwt_secret": secrets.token_urlsafe(32),
        "airflow_fernet_key": Fernet.generate_key().decode(),
        "nir_pseudonym_key": secrets.token_hex(32),
    }
    declared = yaml_doc()["secrets"]
    assert set(declared) == set(secret_files), "docker-compose.yml declares other secrets"
    for name, value in secret_files.items():
        path = run_secrets / name
        path.write_text(value + "\n")
        path.chmod(0o400)
    variables = {"NIR_SECRETS_DIR": str(run_secrets)}
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NIR_"))}
    env |= host_env(
        services["airflow-scheduler"]["environment"],
        variables,
        paths={
            "/opt/nir": PROJECT_ROOT,
            "/opt/airflow": home,
            "/data": data_dir,
            "/run/secrets": run_secrets,
        },
        hosts={
            "@postgres:5432/": f"@127.0.0.1:{postgres.port}/",
            "//airflow-apiserver:8080/": f"//127.0.0.1:{api_port}/",
        },
    )
    assert str(postgres.port) in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"]
    assert str(run_secrets) in env["AIRFLOW__CORE__FERNET_KEY_CMD"]
    assert str(api_port) in env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    # the deployment's key is a secret file outside the data folder, and nir checks that
    assert env["NIR_DEPLOYMENT"] == "deployed"
    assert Path(env["NIR_PSEUDONYM_KEY_FILE"]).parent == run_secrets
    env |= {
        "AIRFLOW_HOME": str(home),  # the image's ENV
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        # the flow is under test, not the threshold: in a register of 600 persons the oldest
        # years have a handful of endings each (as in test_publish_e2e)
        "NIR_GATE_MAX_IKKE_REGISTRERT_SHARE": "0.25",
    }
    dep = Deployment(
        env=env, api=f"http://127.0.0.1:{api_port}", password=password, data_dir=data_dir
    )

    init = subprocess.run(
        host_command(services["airflow-init"]["command"]),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert init.returncode == 0, (
        f"airflow-init failed:\n{init.stdout[-3000:]}\n{init.stderr[-3000:]}"
    )

    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name in SERVICES:
            command = host_command(services[name]["command"])
            if name == "airflow-apiserver":  # bind to this machine only, on a free port
                command[command.index("--port") + 1] = str(api_port)
                command += ["--host", "127.0.0.1"]
            dep.logs[name] = home / f"{name}.log"
            with dep.logs[name].open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        command,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield dep
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        # the services get 10 s together to stop, then they are killed (in a CI run one of
        # them waited out its own 30 s; nothing of the test depends on a graceful stop)
        deadline = time.monotonic() + 10
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


# --- the test --------------------------------------------------------------------------------
def _runs(dep: Deployment, dag_id: str) -> list[dict[str, Any]]:
    return dep.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]


def _task_states(dep: Deployment, dag_id: str, run_id: str) -> dict[str, str]:
    from urllib.parse import quote

    tis = dep.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances")
    return {t["task_id"]: t["state"] for t in tis["task_instances"]}


def test_backfill_on_a_deployment_publishes_and_freezes(deployment: Deployment) -> None:
    import duckdb

    from nir.tools.generate import generate

    dep = deployment
    # three monthly exports (periods 2024-01..2024-03), the middle one final for 2023
    generate(dep.data_dir / "landing", persons=600, start="2024-01", end="2024-03", seed=3, daily=0)

    wait_until(
        "the api-server",
        lambda: dep._call("GET", "/api/v2/monitor/health", None, None),
        timeout=120,
    )
    for dag_id in ("nir_monthly", "nir_annual"):
        wait_until(
            f"{dag_id} to be parsed",
            lambda d=dag_id: dep.request("GET", f"/api/v2/dags/{d}"),
            timeout=120,
        )
        dep.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    created = dep.airflow(
        "backfill",
        "create",
        "--dag-id",
        "nir_monthly",
        "--from-date",
        "2024-02-01",
        "--to-date",
        "2024-04-01",
        "--max-active-runs",
        "1",
    )
    assert created.returncode == 0, created.stderr[-3000:]

    def backfill_done() -> list[dict[str, Any]] | None:
        # a task waiting for a retry means something failed: report now, not minutes later
        retrying = dep.request(
            "GET", "/api/v2/dags/~/dagRuns/~/taskInstances?state=up_for_retry&state=failed"
        )["task_instances"]
        if retrying:
            what = [(t["dag_id"], t["dag_run_id"], t["task_id"], t["state"]) for t in retrying]
            raise AssertionError(f"failed tasks: {what}\n{dep.diagnostics()}")
        runs = [r for r in _runs(dep, "nir_monthly") if r["run_type"] == "backfill"]
        done = [r for r in runs if r["state"] in ("success", "failed")]
        return runs if len(runs) == 3 and len(done) == 3 else None

    try:
        runs = wait_until("the backfill runs", backfill_done, timeout=900, every=5)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{dep.diagnostics()}") from None
    states = {r["logical_date"][:10]: r["state"] for r in runs}
    assert states == dict.fromkeys(["2024-02-01", "2024-03-01", "2024-04-01"], "success"), (
        f"{states}\n{dep.diagnostics()}"
    )

    # the published statistics: newest snapshot for 2024, the frozen final figures for 2023
    published = dep.data_dir / "published" / "nir.duckdb"
    con = duckdb.connect(str(published), read_only=True)
    try:
        rows = dict(
            con.execute(
                "select aar, max(snapshot_date)::varchar || ' ' || max(status) "
                "from statistikk.deltakelse_aar group by aar"
            ).fetchall()
        )
    finally:
        con.close()
    assert rows[2024] == "2024-04-01 forelopig"
    assert rows[2023] == "2024-03-01 endelig"

    # nir_annual ran on the published asset and froze 2023 (runs after other publications skip)
    def annual_froze() -> bool:
        runs = _runs(dep, "nir_annual")
        if not runs or any(r["state"] not in ("success", "failed") for r in runs):
            return False
        return any(
            _task_states(dep, "nir_annual", r["dag_run_id"]).get("freeze") == "success"
            for r in runs
        )

    try:
        wait_until("nir_annual to freeze 2023", annual_froze, timeout=120, every=5)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{dep.diagnostics()}") from None
    assert all(r["run_type"] == "asset_triggered" for r in _runs(dep, "nir_annual"))

    # the scheduler imported dbt and GX once, before forking the workers that run the tasks
    # (nir.orchestration.executor); what each task took is printed for `pytest -s`
    scheduler_log = dep.logs["airflow-scheduler"].read_text("utf-8", errors="replace")
    preloaded = re.search(r"preloaded \d+ modules for the task processes", scheduler_log)
    assert preloaded, scheduler_log[-3000:]
    durations: dict[str, list[float]] = {}
    for r in runs:
        from urllib.parse import quote

        tis = dep.request(
            "GET", f"/api/v2/dags/nir_monthly/dagRuns/{quote(r['dag_run_id'])}/taskInstances"
        )["task_instances"]
        for t in tis:
            if t.get("duration") is not None:
                durations.setdefault(t["task_id"], []).append(round(t["duration"], 1))
    print(f"nir_monthly task durations (s) on the deployment: {durations}")
