"""The peers sluice's DAG import cost is compared with, each in its own virtualenv.

astronomer-cosmos (manifest load mode) runs on Airflow 3; dbt-airflow-factory still caps Airflow
below 3, so it runs on the last Airflow 2. `ensure_venv` builds a peer's virtualenv once,
`write_dag` writes that peer's DAG over a generated dbt project, and `parse_bench.py` imports
the result the way Airflow's DagBag does. Run this file directly for a one-off check on the
1,000-model project: python bench/peers.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent
from typing import Any

BENCH = Path(__file__).resolve().parent
VENVS = BENCH / ".cache" / "venvs"
DAG_ID = "peer_bench"
# Same fixed date in every peer's DAG so none of them differs by schedule arithmetic.
START_DATE = (2024, 1, 1)


@dataclass(frozen=True)
class Peer:
    """One peer tool and exactly what its virtualenv holds.

    Attributes:
        label: Human-readable name for result tables, including the Airflow it runs on.
        requirements: Exact pins handed to the installer.
        exclude_newer: Upload cut-off for everything not pinned. Airflow's constraint files
            cannot be fetched here, so this is what keeps transitive dependencies from drifting
            between machines and months; move it forward when bumping a pin past it.
        metadata_db: Give the venv a migrated SQLite metadata database. Airflow 2.10+ looks up
            every DatasetAlias outlet in the database while serializing a DAG, and cosmos puts
            one on each task, so serialization (which the DAG processor always does, with its
            database) fails without one. Airflow 3 parses and serializes without a database.
    """

    label: str
    requirements: tuple[str, ...]
    exclude_newer: str = "2026-11-23T00:00:00Z"
    metadata_db: bool = False


PEERS: dict[str, Peer] = {
    # asyncpg and psycopg2 only for bench/scale_bench.py, whose Airflow keeps its metadata in
    # PostgreSQL (Airflow 3 opens it sync and async, as requirements.txt says); no
    # dbt: cosmos runs the repository's dbt executable, as a project with dbt in a virtualenv of
    # its own does
    "cosmos": Peer(
        label="astronomer-cosmos 1.15.1 on Airflow 3.3.2",
        requirements=(
            "apache-airflow==3.3.2",
            "astronomer-cosmos==1.15.1",
            "asyncpg==0.32.0",
            "psycopg2-binary==2.9.13",
        ),
    ),
    # 1.0.0 requires apache-airflow<3, hence the newest 2.x; it builds its dbt tasks with cosmos,
    # which is pinned to the same release as the other peer so only the factory layer and the
    # Airflow major differ.
    "dbt-airflow-factory": Peer(
        label="dbt-airflow-factory 1.0.0 (cosmos 1.15.1) on Airflow 2.11.2",
        requirements=(
            "apache-airflow==2.11.2",
            "dbt-airflow-factory==1.0.0",
            "astronomer-cosmos==1.15.1",
        ),
        metadata_db=True,
    ),
}


def ensure_venv(name: str) -> Path:
    """Create the peer's virtualenv once and return its Python.

    The marker file records what was installed, so a second call costs one file read; a changed
    pin set rebuilds the environment from scratch rather than layering on a stale one.

    Args:
        name: A key of `PEERS`.

    Returns:
        Path of the virtualenv's python executable.
    """
    peer = PEERS[name]
    root = VENVS / name
    python = root / "bin" / "python"
    marker = root / ".bench-requirements"
    wanted = "\n".join([*peer.requirements, f"exclude-newer={peer.exclude_newer}", f"db={peer.metadata_db}"])
    wanted += "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    base = shutil.which("python3") or sys.executable
    subprocess.run([base, "-m", "venv", str(root)], check=True)
    subprocess.run(
        [
            _uv(),
            "pip",
            "install",
            "--python",
            str(python),
            "--compile-bytecode",
            "--exclude-newer",
            peer.exclude_newer,
            *peer.requirements,
        ],
        check=True,
    )
    if peer.metadata_db:
        _attach_metadata_db(python)
    # Written last: an interrupted install leaves no marker and is redone next time.
    marker.write_text(wanted)
    return python


def _attach_metadata_db(python: Path) -> None:
    """Migrate a SQLite metadata database inside the venv and make it the venv's default.

    Callers such as parse_bench.py give each measurement a fresh AIRFLOW_HOME and know nothing of
    databases, so the venv itself supplies one: a .pth line sets the connection unless the
    environment already names another. Serializing only reads from it (the aliases resolve to
    nothing), so concurrent measurements can share it.
    """
    root = python.parents[1]
    url = f"sqlite:///{root / 'airflow.db'}"
    with tempfile.TemporaryDirectory(prefix="peer-migrate-") as home:
        env = {**airflow_env(Path(home)), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}
        done = subprocess.run(
            [str(root / "bin" / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True
        )
    if done.returncode != 0:
        raise SystemExit(f"airflow db migrate failed in {root}: {done.stderr[-3000:]}")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    line = f"import os; os.environ.setdefault('AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', {url!r})\n"
    (Path(site) / "bench_airflow_db.pth").write_text(line)


def _uv() -> str:
    # Prefer the uv next to the running interpreter (the project venv pins it), then PATH.
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        raise SystemExit("uv not found: install it into the project venv (pip install uv)")
    return found


def write_dag(name: str, dags_dir: Path, project_dir: Path, manifest: Path) -> Path:
    """Write everything one peer needs for a single DAG over a dbt project.

    Both peers render each model as a run task followed by its tests, run locally with the
    project's own profiles.yml (profile `bench`, target `local`), and build the graph from the
    manifest without invoking dbt.

    Args:
        name: A key of `PEERS`.
        dags_dir: Directory to write into; created if missing.
        project_dir: The dbt project, holding profiles.yml.
        manifest: The project's parsed manifest.json.

    Returns:
        The one .py file Airflow should import.
    """
    dags_dir.mkdir(parents=True, exist_ok=True)
    project_dir, manifest = project_dir.resolve(), manifest.resolve()
    if name == "cosmos":
        return _cosmos_dag(dags_dir, project_dir, manifest)
    if name == "dbt-airflow-factory":
        return _factory_dag(dags_dir, project_dir, manifest)
    raise KeyError(name)


def _cosmos_dag(dags_dir: Path, project_dir: Path, manifest: Path) -> Path:
    # The dbt executable only matters when a task runs. Naming an existing file keeps parsing
    # independent of whether dbt is installed in the peer's venv, which it deliberately is not.
    text = dedent(
        f'''\
        """Airflow DAG: the benchmark project rendered by astronomer-cosmos from its manifest."""

        from datetime import datetime

        from cosmos import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
        from cosmos.constants import ExecutionMode, LoadMode, TestBehavior

        PROJECT = {str(project_dir)!r}

        dag = DbtDag(
            dag_id={DAG_ID!r},
            schedule=None,
            start_date=datetime{START_DATE!r},
            catchup=False,
            project_config=ProjectConfig(
                dbt_project_path=PROJECT,
                manifest_path={str(manifest)!r},
                project_name="bench",
            ),
            profile_config=ProfileConfig(
                profile_name="bench",
                target_name="local",
                profiles_yml_filepath=PROJECT + "/profiles.yml",
            ),
            render_config=RenderConfig(
                load_method=LoadMode.DBT_MANIFEST,
                test_behavior=TestBehavior.AFTER_EACH,
            ),
            execution_config=ExecutionConfig(
                execution_mode=ExecutionMode.LOCAL,
                dbt_executable_path="/bin/true",
            ),
        )
        '''
    )
    path = dags_dir / "peer_bench_cosmos.py"
    path.write_text(text)
    return path


def _factory_dag(dags_dir: Path, project_dir: Path, manifest: Path) -> Path:
    # The factory reads config/<env>/*.yml over config/base/*.yml; everything lives in base and
    # the env directory stays empty, as a single-environment deployment would have it.
    base = dags_dir / "config" / "base"
    base.mkdir(parents=True, exist_ok=True)
    (dags_dir / "config" / "bench").mkdir(exist_ok=True)
    year, month, day = START_DATE
    (base / "airflow.yml").write_text(
        dedent(
            f"""\
            default_args:
              owner: bench
              retries: 0
            dag:
              dag_id: {DAG_ID}
              schedule: null
              start_date: {year:04d}-{month:02d}-{day:02d}T00:00:00
              catchup: false
            manifest_file_name: {json.dumps(str(manifest))}
            """
        )
    )
    (base / "dbt.yml").write_text(
        dedent(
            f"""\
            target: local
            target_type: duckdb
            profile_name: bench
            dbt_project_name: bench
            project_dir_path: {json.dumps(str(project_dir))}
            profile_dir_path: {json.dumps(str(project_dir))}
            """
        )
    )
    # "bash" is the factory's local mode (dbt as a subprocess on the worker); see _cosmos_dag for
    # why the executable is a stand-in.
    (base / "execution_env.yml").write_text("type: bash\nexecution_script: /bin/true\n")
    (base / "ingestion.yml").write_text("enable: false\n")
    path = dags_dir / "peer_bench_dbt_airflow_factory.py"
    path.write_text(
        dedent(
            '''\
            """Airflow DAG: the benchmark project built by dbt-airflow-factory from config/."""

            from pathlib import Path

            from dbt_airflow_factory.airflow_dag_factory import AirflowDagFactory

            dag = AirflowDagFactory(str(Path(__file__).resolve().parent), "bench").create()
            '''
        )
    )
    return path


def write_cosmos_run_dag(
    dags_dir: Path, dag_id: str, project_dir: Path, manifest: Path, mode: str, dbt: Path, pool: str | None
) -> Path:
    """A cosmos DAG that runs the project: ``mode`` is an ExecutionMode member name (``LOCAL``:
    a dbt process per task; ``WATCHER``: one ``dbt build`` feeding a sensor per model and test).

    Everything else is cosmos's default: tests after each model, dbt started as a process (dbt is
    not importable in cosmos's virtualenv), the manifest read at parse time as in the parse bench.
    Except, in LOCAL mode, a test of several models (relationships) gets a task of its own after
    all of them, as cosmos's docs advise: otherwise each parent's test task runs it, before the
    other parent exists, and it fails. WATCHER needs no such help (its one `dbt build` runs such
    a test after its parents) and cannot take it: 1.15.1 publishes no status for a detached test,
    whose sensor then fails or passes unchecked. ``pool`` names an Airflow pool for every task
    (one slot: DuckDB takes one writing process).
    """
    dags_dir.mkdir(parents=True, exist_ok=True)
    operator_args = f"{{'pool': {pool!r}}}" if pool else "{}"
    text = dedent(
        f'''\
        """Airflow DAG: the benchmark project run by astronomer-cosmos, ExecutionMode.{mode}."""

        from datetime import datetime

        from cosmos import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
        from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

        PROJECT = {str(project_dir.resolve())!r}

        dag = DbtDag(
            dag_id={dag_id!r},
            schedule=None,
            start_date=datetime{START_DATE!r},
            catchup=False,
            default_args={{"retries": 0}},
            project_config=ProjectConfig(
                dbt_project_path=PROJECT,
                manifest_path={str(manifest.resolve())!r},
                project_name="scale",
            ),
            profile_config=ProfileConfig(
                profile_name="scale",
                target_name="local",
                profiles_yml_filepath=PROJECT + "/profiles.yml",
            ),
            render_config=RenderConfig(
                load_method=LoadMode.DBT_MANIFEST,
                test_behavior=TestBehavior.AFTER_EACH,
                should_detach_multiple_parents_tests={mode == "LOCAL"},
            ),
            execution_config=ExecutionConfig(
                execution_mode=ExecutionMode.{mode},
                invocation_mode=InvocationMode.SUBPROCESS,
                dbt_executable_path={str(dbt)!r},
            ),
            operator_args={operator_args},
        )
        '''
    )
    path = dags_dir / f"{dag_id}.py"
    path.write_text(text)
    return path


def airflow_env(home: Path) -> dict[str, str]:
    """Environment for a measuring subprocess: a throwaway Airflow home and no examples.

    DagBag parsing needs no metadata database in either Airflow major, so none is created; the
    import timeout is lifted because the largest projects can legitimately exceed the default.

    Args:
        home: Directory to use as AIRFLOW_HOME.

    Returns:
        A copy of os.environ with the Airflow settings applied.
    """
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "0",
    }


def measure(name: str, models: int = 1000) -> dict[str, Any]:
    """Build the peer's venv if needed and import its DAG over the N-model project once.

    Args:
        name: A key of `PEERS`.
        models: Size of the generated project (made and cached by genproject if missing).

    Returns:
        measure_dagbag.py's JSON plus the peer, its label and how long ensure_venv took.
    """
    import genproject  # bench/ is on sys.path both when run directly and from parse_bench

    started = time.perf_counter()
    python = ensure_venv(name)
    venv_s = time.perf_counter() - started
    manifest = genproject.ensure(models)
    with tempfile.TemporaryDirectory(prefix=f"peer-{name}-") as tmp:
        dag_file = write_dag(name, Path(tmp) / "dags", manifest.parents[1], manifest)
        home = Path(tmp) / "airflow_home"
        home.mkdir()
        done = subprocess.run(
            [str(python), str(BENCH / "measure_dagbag.py"), str(dag_file)],
            env=airflow_env(home),
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"{name}: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {"peer": name, "label": PEERS[name].label, "ensure_venv_s": round(venv_s, 2), **result}


def main() -> None:
    """Print one JSON line per peer for the 1,000-model project."""
    for name in PEERS:
        print(json.dumps(measure(name)), flush=True)


if __name__ == "__main__":
    main()
