"""A local Airflow for the repository's pipelines: `make up` / `make down`.

API server and UI, scheduler, DAG processor and triggerer, on LocalExecutor with PostgreSQL
metadata. ``FAST_SETTINGS`` are the settings that make runs fast; `make up` ships them and the
execution benchmark (bench/exec_bench.py, bench/scale_bench.py) runs with exactly these.

The login is local: a password generated once per Airflow home (mode 0600), never reused
elsewhere, as are the API's signing secrets. `down` stops exactly the processes `up` recorded
(checked by their start time, so a reused process id is never signalled), then the dbt workers
their tasks started, which run in sessions of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deploy import local_events

REPO = Path(__file__).resolve().parents[1]
ROLES = ("api-server", "scheduler", "dag-processor", "triggerer")
PG = "postgresql+psycopg2://postgres@127.0.0.1:5432"
USER = "admin"
MARKER = "SLUICE_LOCAL_AIRFLOW_HOME"

# The settings a user of `make up` gets, and the only ones the execution benchmarks run with.
FAST_SETTINGS = {
    # tasks of a zone run side by side; SQLite metadata would serialize them (and Airflow refuses
    # LocalExecutor on it)
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    # Airflow sleeps 1 s between scheduler loops when a loop found nothing to do, and every level
    # of a dbt graph waits for the next loop: a 10-level zone pays ~10 s for nothing
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1",
    # the same for the triggerer, where sluice's model and test tasks start and end: each level
    # of a dbt graph waits up to 3 s for its two 1-s loops (sluice.airflow.triggerer_shortcuts)
    "SLUICE_TRIGGERER_LOOP_SECONDS": "0.2",
    # a new spec shows up within seconds (the DAG file is cheap to import: its plans are compiled
    # and cached by content hash)
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    # Airflow's default: an edited spec shows up within 30 s, and a DAG of 1,000 models is not
    # parsed and serialized again every 10 s of a run (a tenth of a core)
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    # a broken spec's import error is its own line, not a Python traceback
    "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "False",
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
}


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _local_secrets(home: Path) -> dict[str, str]:
    """The login password and API secrets of this Airflow home, made on first use."""
    path = home / "local-secrets.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    made = {name: secrets.token_urlsafe(24) for name in ("password", "jwt_secret", "api_secret_key")}
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(made, f)
    return made


@dataclass(frozen=True)
class LocalAirflow:
    """One local Airflow: its home, port, metadata database and the folders it reads.

    ``bin_dir`` is the virtualenv folder whose ``airflow`` runs every role: this Python's by
    default (`make up`); the benchmark points it at a peer's virtualenv, so another tool's DAGs
    run under the same roles and ``FAST_SETTINGS``.
    """

    home: Path
    port: int = 8080
    database: str = "sluice_local"
    dags_folder: Path = REPO / "dags"
    plugins_folder: Path = REPO / "plugins"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    bin_dir: Path = field(default_factory=lambda: Path(sys.executable).parent)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.home / "up.json"

    def password(self) -> str:
        return _local_secrets(self.home)["password"]

    def environment(self) -> dict[str, str]:
        """The environment of every role: the caller's, with :meth:`settings` over it."""
        return {**os.environ, **self.settings()}

    def settings(self) -> dict[str, str]:
        """What this Airflow sets for its roles, over whatever the caller's environment holds."""
        found = _local_secrets(self.home)
        passwords = self.home / "local-passwords.json"
        if not passwords.exists():
            fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({USER: found["password"]}, f)
        return {
            **FAST_SETTINGS,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{PG}/{self.database}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": found["jwt_secret"],
            "AIRFLOW__API__SECRET_KEY": found["api_secret_key"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            # inherited by every task and so by the dbt workers they start: `down` finds them by it
            MARKER: str(self.home),
            # the demo's event stream: a local S3 while `up` runs one (deploy/local_events.py)
            **local_events.running_env(self.home / "events"),
            **self.extra_env,
        }

    def airflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / "airflow"), *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            check=False,
        )

    def running(self) -> dict[str, int]:
        """The recorded processes that are still the ones `up` started."""
        try:
            recorded = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return {
            role: entry["pid"]
            for role, entry in recorded.items()
            if isinstance(entry, dict) and _start_time(entry.get("pid", -1)) == entry.get("start")
        }

    def up(self, *, wait: float = 180.0) -> None:
        """Start every role (those already running are kept) and wait until the API answers."""
        if self.running().keys() == set(ROLES):
            return
        if not self.running() and not port_free(self.port):
            raise SystemExit(f"port {self.port} is in use by another program: make up PORT=8081")
        self.home.mkdir(parents=True, exist_ok=True)
        _create_database(self.database)
        migrated = self.airflow("db", "migrate")
        if migrated.returncode:
            raise SystemExit(f"airflow db migrate failed:\n{migrated.stdout}{migrated.stderr}")
        state = {role: {"pid": pid, "start": _start_time(pid)} for role, pid in self.running().items()}
        local_events.ensure_started(self.home / "events")
        env = self.environment()
        for role in ROLES:
            if role in state:
                continue
            with (self.home / f"{role}.log").open("ab") as log:
                proc = subprocess.Popen(
                    [str(self.bin_dir / "airflow"), role],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    # its own process group: down stops the role and every process it forked
                    start_new_session=True,
                )
            state[role] = {"pid": proc.pid, "start": _start_time(proc.pid)}
        self.state_file.write_text(json.dumps(state))
        self.wait_healthy(wait)

    def wait_healthy(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.running().keys() != set(ROLES):
                gone = sorted(set(ROLES) - self.running().keys())
                raise SystemExit(f"airflow {', '.join(gone)} exited; see {self.home}/{gone[0]}.log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise SystemExit(f"the API server did not answer on {self.url} in {seconds:.0f} s")

    def down(self, *, wait: float = 30.0) -> list[str]:
        """Stop what `up` started; returns the roles stopped."""
        running = self.running()
        for pid in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.running().values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        stop_dbt_workers(self.home)
        local_events.stop(self.home / "events")
        self.state_file.unlink(missing_ok=True)
        return sorted(running)

    def api(self) -> httpx.Client:
        """A client of the REST API (``/api/v2``), logged in with the local login."""
        login = {"username": USER, "password": self.password()}
        answer = httpx.post(f"{self.url}/auth/token", json=login, timeout=10)
        answer.raise_for_status()
        token = answer.json()["access_token"]
        return httpx.Client(
            base_url=f"{self.url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def unpause(self, dag_id: str, wait: float = 180) -> None:
        """Unpause the DAG, once the DAG processor has stored it (a fresh `up` parses in the
        background)."""
        with self.api() as api:
            deadline = time.monotonic() + wait
            while api.get(f"/dags/{dag_id}").status_code == 404:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{dag_id} did not appear in {wait:.0f} s; see {self.home}")
                time.sleep(0.5)
            api.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Unpause the DAG and start a run of it now; returns the run id."""
        self.unpause(dag_id)
        with self.api() as api:
            answer = api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
            answer.raise_for_status()
            return str(answer.json()["dag_run_id"])

    def wait_for_run(
        self, dag_id: str, run_id: str, seconds: float = 900, poll: float = 0.5
    ) -> dict[str, Any]:
        """The run's record once it has succeeded or failed, asked for every ``poll`` seconds (each
        answer costs the API server a load of the DAG's versions, ~0.2 s at 1,000 tasks)."""
        deadline = time.monotonic() + seconds
        with self.api() as api:
            while time.monotonic() < deadline:
                try:
                    answer = api.get(f"/dags/{dag_id}/dagRuns/{run_id}")
                except httpx.TimeoutException:
                    continue  # an API server starved by the run's own tasks (load 20 here) answers later
                answer.raise_for_status()
                run: dict[str, Any] = answer.json()
                if run["state"] in ("success", "failed"):
                    return run
                time.sleep(poll)
        raise TimeoutError(f"{dag_id} run {run_id} did not finish in {seconds:.0f} s")


def _create_database(name: str) -> None:
    import psycopg2  # type: ignore[import-untyped]  # no stubs; Airflow needs it for its metadata

    try:
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    except psycopg2.OperationalError as exc:
        raise SystemExit(f"PostgreSQL does not answer on 127.0.0.1:5432 ({exc}); run make postgres") from exc
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select 1 from pg_database where datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(f'create database "{name}"')
    conn.close()


def dbt_workers(home: Path) -> Iterator[int]:
    """The dbt workers started by tasks of the local Airflow in ``home``."""
    marker = f"{MARKER}={home}".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"sluice.runtime.dbt_worker" not in (proc / "cmdline").read_bytes():
                continue
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                yield int(proc.name)
        except OSError:
            continue


def stop_dbt_workers(home: Path, wait: float = 10.0) -> None:
    """SIGTERM (then, after ``wait`` seconds, SIGKILL) the dbt workers of ``home``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in dbt_workers(home):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while any(dbt_workers(home)) and time.monotonic() < deadline:
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local_airflow", description="make up / make down")
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow")))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args(argv)
    local = LocalAirflow(home=args.home.resolve(), port=args.port)
    if args.command == "down":
        stopped = local.down()
        print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
        return 0
    if args.command == "status":
        running = local.running()
        for role in ROLES:
            print(f"{role}: {'pid ' + str(running[role]) if role in running else 'not running'}")
        return 0 if running.keys() == set(ROLES) else 1
    local.up()
    print(f"Airflow is up on {local.url}  (log in as {USER} / {local.password()}; local only)")
    print(f"logs: {local.home}/<role>.log; stop it with: make down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
