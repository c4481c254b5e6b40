"""`make up` / `make down`: a real local Airflow (API server, scheduler, DAG processor, triggerer)
runs the demo when triggered through the REST API, and `down` leaves nothing running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from deploy.local_airflow import FAST_SETTINGS, ROLES, LocalAirflow, dbt_workers, free_port

from tests.conftest import REPO
from tests.integration.conftest import Sandbox, query, scratch_postgres


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_up_runs_the_demo_from_the_rest_api_and_down_stops_everything(
    sandbox: Callable[..., Sandbox],
) -> None:
    box = sandbox(migrate=False)
    with scratch_postgres("sluice_up") as database:
        local = LocalAirflow(
            home=box.root / "airflow",
            port=free_port(),
            database=database,
            dags_folder=box.dags,
            extra_env={k: box.env[k] for k in ("SLUICE_DUCKDB_PATH", "SLUICE_FAKER_PYTHON")},
        )
        try:
            local.up()
            started = local.running()
            assert started.keys() == set(ROLES)
            # a second `up` keeps what runs rather than starting another scheduler
            local.up()
            assert local.running() == started

            # the login is the home's own, and the API refuses anyone else
            bad = httpx.post(f"{local.url}/auth/token", json={"username": "admin", "password": "admin"})
            assert bad.status_code == 401
            run = local.wait_for_run("payments_daily", local.trigger("payments_daily"), seconds=600)
            assert run["state"] == "success", run
            gold = {
                name
                for (name,) in query(
                    box.duckdb, "select table_name from information_schema.tables where table_schema = 'gold'"
                )
            }
            assert {"merchant_daily_volumes", "customer_balances", "fraud_flags"} <= gold
            workers = list(dbt_workers(local.home))
            assert workers, "the run's dbt tasks went through a warm dbt worker"
        finally:
            stopped = local.down()
        assert stopped == sorted(ROLES)
        assert not any(_alive(pid) for pid in started.values())
        assert not any(_alive(pid) for pid in workers), "down stops the dbt workers its tasks started"
        assert local.down() == [], "a second down finds nothing of its own to stop"


def test_up_on_a_busy_port_names_the_port_and_how_to_pick_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = ["up", "--home", str(tmp_path), "--port", str(port)]
        done = subprocess.run(
            [sys.executable, "-m", "deploy.local_airflow", *up],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode != 0
    assert done.stderr.strip() == f"port {port} is in use by another program: make up PORT=8081"


def test_the_login_and_signing_secrets_are_made_per_home_and_private(tmp_path: Path) -> None:
    one, two = LocalAirflow(home=tmp_path / "one"), LocalAirflow(home=tmp_path / "two")
    env_one, env_two = one.environment(), two.environment()
    assert one.password() != two.password()
    assert env_one["AIRFLOW__API_AUTH__JWT_SECRET"] != env_two["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert one.password() == LocalAirflow(home=tmp_path / "one").password(), "stable across make up"
    assert (tmp_path / "one" / "local-secrets.json").stat().st_mode & 0o077 == 0
    assert all(env_one[k] == v for k, v in FAST_SETTINGS.items())


@pytest.mark.parametrize("command", ["down", "status"])
def test_down_and_status_with_nothing_started(tmp_path: Path, command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deploy.local_airflow", command, "--home", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if command == "down":
        assert (done.returncode, done.stdout.strip()) == (0, "nothing was running")
    else:
        assert done.returncode == 1 and "scheduler: not running" in done.stdout


def test_another_virtualenvs_airflow_runs_with_the_same_settings(tmp_path: Path) -> None:
    """The benchmark starts a peer's Airflow through LocalAirflow: its own executable, the same
    FAST_SETTINGS."""
    peer_bin = tmp_path / "peer" / "bin"
    peer_bin.mkdir(parents=True)
    airflow = peer_bin / "airflow"
    airflow.write_text(
        '#!/bin/sh\necho "$0 $* $AIRFLOW__CORE__EXECUTOR $AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"\n'
    )
    airflow.chmod(0o755)
    done = LocalAirflow(home=tmp_path / "home", bin_dir=peer_bin).airflow("version")
    assert done.stdout.split() == [
        str(airflow),
        "version",
        FAST_SETTINGS["AIRFLOW__CORE__EXECUTOR"],
        FAST_SETTINGS["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"],
    ]
    assert LocalAirflow(home=tmp_path / "home").bin_dir == Path(sys.executable).parent, "make up's own"
