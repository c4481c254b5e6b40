"""startup.sh from the MWAA package, run as MWAA runs it (sourced by bash, AIRFLOW_HOME holding the
unzipped plugins.zip) with SLUICE_OFFLINE_WHEELS=1 and every package index made unreachable: dbt
must install from the manylinux wheels that `make package --wheels` shipped in plugins.zip.

On a machine with Python 3.12 (MWAA's) the wheels are the py3.12 manylinux ones MWAA would get;
without it the same test runs on this Python with wheels for its version. The wheels are
downloaded once into build/wheels-py<version>/ (that step needs the package index)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from deploy.package import BUNDLE_REPO, build

from tests.conftest import REPO

pytestmark = pytest.mark.integration

MWAA_LIMIT_SECONDS = 300
DEAD_INDEX = "http://127.0.0.1:9/simple"  # nothing listens on the discard port: any download fails


def _python() -> tuple[str, str]:
    """MWAA's Python 3.12 if this machine has it, else this interpreter's base Python."""
    candidates = [
        shutil.which("python3.12"),
        *map(str, sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))),
    ]
    for candidate in filter(None, candidates):
        if (
            subprocess.run(
                [candidate, "-c", "import venv, ensurepip"], capture_output=True, check=False
            ).returncode
            == 0
        ):
            return candidate, "3.12"
    base = Path(sys.base_prefix) / "bin" / "python3"
    return str(base), f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="module")
def python() -> tuple[str, str]:
    return _python()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, python: tuple[str, str]) -> Path:
    _, version = python
    return build(
        tmp_path_factory.mktemp("package") / "mwaa",
        wheels=True,
        python_version=version,
        wheel_cache=REPO / "build" / f"wheels-py{version}",
    )


def _home(bundle: Path, tmp_path: Path, python: str) -> tuple[Path, dict[str, str]]:
    """An MWAA-like home: plugins.zip unzipped in plugins/, `python3` the chosen interpreter."""
    home = tmp_path / "airflow"
    with zipfile.ZipFile(bundle / "plugins.zip") as zf:
        zf.extractall(home / "plugins")
    shutil.copy(bundle / "startup.sh", home / "startup.sh")
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "python3").symlink_to(python)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV", "SLUICE_"))
    }
    env.update(
        {
            "PATH": f"{shims}{os.pathsep}/usr/bin:/bin",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_ENV_NAME": "sluice-dev",
            "MWAA_AIRFLOW_COMPONENT": "worker",
            "PIP_USER": "true",  # as MWAA sets it
            "SLUICE_OFFLINE_WHEELS": "1",
            "PIP_INDEX_URL": DEAD_INDEX,
            "PIP_EXTRA_INDEX_URL": DEAD_INDEX,
            "http_proxy": "http://127.0.0.1:9",
            "https_proxy": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
        }
    )
    return home, env


def _source(home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = 'source ./startup.sh; status=$?; echo "SLUICE_ENV=${SLUICE_ENV:-}"; '
    script += 'echo "SLUICE_DBT_EXECUTABLE=$SLUICE_DBT_EXECUTABLE"; exit $status'
    return subprocess.run(
        ["bash", "-c", script], env=env, cwd=home, capture_output=True, text=True, timeout=600, check=False
    )


def _exported(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if line.startswith("SLUICE_"))


def test_offline_startup_builds_a_dbt_virtualenv_from_the_shipped_wheels_in_time(
    bundle: Path, python: tuple[str, str], tmp_path: Path
) -> None:
    interpreter, version = python
    home, env = _home(bundle, tmp_path, interpreter)
    started = time.monotonic()
    done = _source(home, env)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"startup.sh built the dbt virtualenv offline in {took:.1f} s")
    assert took < MWAA_LIMIT_SECONDS, f"startup took {took:.0f} s"
    exported = _exported(done)
    assert exported["SLUICE_ENV"] == "dev"
    dbt = Path(exported["SLUICE_DBT_EXECUTABLE"])
    assert dbt == home / "sluice-dbt-venv" / "bin" / "dbt"

    venv_python = dbt.parent / "python"
    got = subprocess.run(
        [str(venv_python), "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert got.stdout.strip() == version
    shown = subprocess.run([str(dbt), "--version"], capture_output=True, text=True, env=env, check=False)
    assert "1.11.16" in shown.stdout and "snowflake: 1.12.3" in shown.stdout, shown.stdout + shown.stderr

    # the bundled project parses for the dev (Snowflake) target on that dbt; no connection is made
    project = tmp_path / "dbt"
    shutil.copytree(bundle / "dags" / BUNDLE_REPO / "dbt", project)
    fake = {"SNOWFLAKE_ACCOUNT": "acct", "SNOWFLAKE_USER": "u", "SNOWFLAKE_PRIVATE_KEY_PATH": "/nonexistent"}
    parsed = subprocess.run(
        [str(dbt), "parse", "--project-dir", str(project), "--profiles-dir", str(project), "--target", "dev"],
        capture_output=True,
        text=True,
        env={**env, **fake, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"},
        check=False,
        timeout=300,
    )
    assert parsed.returncode == 0, parsed.stdout[-2000:]

    # sluice's warm dbt worker runs on the virtualenv's Python with plugins/ on its path
    worker = subprocess.run(
        [
            str(venv_python),
            "-c",
            "import sluice, sluice.runtime.dbt_worker, dbt.cli.main; print(sluice.__file__)",
        ],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(home / "plugins")},
        check=False,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert worker.stdout.strip() == str(home / "plugins" / "sluice" / "__init__.py")

    again = _source(home, env)  # a restarted container keeps a current virtualenv
    assert again.returncode == 0 and "is current" in again.stdout


def test_offline_startup_without_the_wheels_fails_loudly(
    bundle: Path, python: tuple[str, str], tmp_path: Path
) -> None:
    home, env = _home(bundle, tmp_path, python[0])
    shutil.rmtree(home / "plugins" / "sluice_dbt" / "wheels")
    done = _source(home, env)
    assert done.returncode == 1
    assert f"could not build the dbt virtualenv {home / 'sluice-dbt-venv'}" in done.stderr


def test_the_web_server_skips_dbt_but_still_gets_the_variables(
    bundle: Path, python: tuple[str, str], tmp_path: Path
) -> None:
    home, env = _home(bundle, tmp_path, python[0])
    done = _source(home, {**env, "MWAA_AIRFLOW_COMPONENT": "webserver", "AIRFLOW_ENV_NAME": "sluice-prod"})
    assert done.returncode == 0, done.stderr
    assert _exported(done)["SLUICE_ENV"] == "prod"
    assert not (home / "sluice-dbt-venv").exists()
