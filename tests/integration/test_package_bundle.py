"""The MWAA package as MWAA sees it: unpacked into a fresh folder, Airflow pointed at its dags/ and
its unzipped plugins.zip, sluice imported from the package (not from this repository), every DAG
imported from the stored plans, and the .airflowignore keeping Airflow out of the dbt project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from deploy.lockfile import normalize
from deploy.package import BUNDLE_REPO, MWAA_DAGS, WHEEL_PLATFORMS, build

from tests.conftest import REPO

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent

# Runs in a fresh interpreter. The repository's plugins/ (on sys.path through the editable
# install) is removed first, so `sluice` can only come from the plugins folder Airflow adds.
# dbt and DuckDB are made unimportable (on MWAA dbt lives in its own virtualenv), and planning is
# made to fail: every DAG must come from a plan stored by `make package`.
_DAGBAG = """
import json, os, sys
sys.path[:] = [p for p in sys.path if os.path.realpath(p) != {repo_plugins!r}]
sys.modules.update(dbt=None, duckdb=None)  # not in Airflow's environment on MWAA: importing them fails
from airflow.dag_processing.dagbag import DagBag
import sluice, sluice.plan.compiled as compiled

def _no_planning(*args, **kwargs):
    raise AssertionError("planned at import time: the stored plan was not used")

compiled.plan_spec = _no_planning
bag = DagBag()
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()  # as every task process does
print("JSON" + json.dumps({{
    "plugin_modules": sorted(
        n for n, m in list(sys.modules.items())
        if "/plugins/sluice" in (getattr(m, "__file__", None) or "") and not n.startswith("sluice")
    ),
    "sluice": sluice.__file__,
    "plugins": sorted(p["name"] for p in plugins_manager.get_plugin_info()),
    "import_errors": {{k: str(v) for k, v in bag.import_errors.items()}},
    "files": sorted(bag.file_last_changed),
    "dags": {{d: len(dag.tasks) for d, dag in bag.dags.items()}},
}}))
"""


def _unpack(bundle: Path, into: Path) -> tuple[Path, Path]:
    """dags/ copied without its timestamps (as an S3 sync delivers it), plugins.zip unzipped."""
    dags = into / "dags"
    shutil.copytree(bundle / "dags", dags, copy_function=shutil.copyfile)
    plugins = into / "plugins"
    with zipfile.ZipFile(bundle / "plugins.zip") as zf:
        zf.extractall(plugins)
    return dags, plugins


def _dagbag(dags: Path, plugins: Path, home: Path) -> dict[str, Any]:
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SLUICE_", "PYTHON"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "SLUICE_ENV": "dev",  # what startup.sh sets on the dev environment
        }
    )
    done = subprocess.run(
        [str(BIN / "python"), "-c", _DAGBAG.format(repo_plugins=os.path.realpath(REPO / "plugins"))],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("JSON"))
    return json.loads(line[4:])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("package") / "mwaa")


def test_every_dag_imports_from_the_unpacked_package_with_sluice_from_plugins_zip(
    bundle: Path, tmp_path: Path
) -> None:
    dags, plugins = _unpack(bundle, tmp_path)
    bag = _dagbag(dags, plugins, tmp_path / "airflow")
    assert bag["import_errors"] == {}
    assert bag["sluice"] == str(plugins / "sluice" / "__init__.py")
    # plugins.zip's .airflowignore: Airflow's plugin loader imports none of sluice's files as
    # top-level modules (sluice/runtime/dbt.py as `dbt`, ...)
    assert bag["plugin_modules"] == []
    # sluice_plugin.py: sluice's tasks start in the triggerer without a copy of their DAG; the
    # OpenLineage provider (pinned) brings its own plugin, which sends lineage when configured
    assert bag["plugins"] == ["OpenLineageProviderPlugin", "sluice"]
    stored = json.loads(
        (dags / BUNDLE_REPO / "dbt" / "target" / "sluice" / "payments_daily.dev.plan.json").read_text()
    )
    assert bag["dags"] == {"payments_daily": len(stored["plan"]["tasks"])}
    assert bag["files"] == [
        str(dags / BUNDLE_REPO / "dags" / "sluice_dags.py"),
        str(dags / BUNDLE_REPO / "dags" / "sluice_import_errors.py"),
    ]


def test_airflowignore_keeps_the_dag_processor_out_of_everything_but_dag_files(
    bundle: Path, tmp_path: Path
) -> None:
    dags, plugins = _unpack(bundle, tmp_path)
    # a dbt Python model says "airflow" and "DAG", so Airflow's safe-mode heuristic would import it
    model = dags / BUNDLE_REPO / "dbt" / "models" / "gold" / "python_model.py"
    model.write_text('"""Not an airflow DAG: a dbt Python model."""\nraise RuntimeError("imported")\n')
    stray = dags / BUNDLE_REPO / "dags" / "pipelines" / "notes.py"
    stray.write_text('"""airflow dag notes"""\nraise RuntimeError("imported")\n')

    bag = _dagbag(dags, plugins, tmp_path / "airflow")
    assert bag["import_errors"] == {}
    assert bag["dags"] == {"payments_daily": bag["dags"]["payments_daily"]}

    (dags / ".airflowignore").unlink()
    unguarded = _dagbag(dags, plugins, tmp_path / "airflow")
    assert sorted(unguarded["import_errors"]) == sorted([str(model), str(stray)])
    assert "payments_daily" in unguarded["dags"]


def test_mwaa_requirements_install_nothing_over_an_airflow_built_from_the_lock(
    bundle: Path, tmp_path: Path
) -> None:
    """pip, as MWAA runs it (requirements.txt with its --constraint line), over this environment
    (Airflow and providers at the lock's versions): the constraints agree with the lock and with
    each other, and nothing is installed or replaced. --no-index: any change would fail here."""
    text = (bundle / "requirements.txt").read_text()
    assert f'--constraint "{MWAA_DAGS}/constraints.txt"' in text
    local = tmp_path / "requirements.txt"
    local.write_text(text.replace(MWAA_DAGS, str(bundle / "dags")))
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            *(str(BIN / "python"), "-m", "pip", "install", "--dry-run", "--no-index", "--quiet"),
            *("--disable-pip-version-check", "--report", str(report), "-r", str(local)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(report.read_text())["install"] == []


def test_mwaa_requirements_resolve_for_python_312_on_manylinux(bundle: Path, tmp_path: Path) -> None:
    """The same requirements and constraints resolved for MWAA's Python 3.12 on x86_64 Linux, from
    binary wheels only, as on a fresh machine (this step reads the package index): every pinned
    version has a wheel there, and the pins agree with each other and with Airflow's own."""
    local = tmp_path / "requirements.txt"
    local.write_text((bundle / "requirements.txt").read_text().replace(MWAA_DAGS, str(bundle / "dags")))
    report = tmp_path / "report.json"
    platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
    done = subprocess.run(
        [
            *(str(BIN / "python"), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"),
            *("--disable-pip-version-check", "--only-binary=:all:", "--implementation", "cp"),
            *("--python-version", "3.12", *platforms, "--target", str(tmp_path / "target")),
            *("--report", str(report), "-r", str(local)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    resolved = {
        normalize(i["metadata"]["name"]): i["metadata"]["version"]
        for i in json.loads(report.read_text())["install"]
    }
    checked = 0
    for line in (bundle / "dags" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            if name in resolved:  # a constraint pip did not need is not installed
                assert resolved[name] == version, name
                checked += 1
    assert checked > 40
    assert resolved["apache-airflow"] == "3.3.2"
    assert resolved["apache-airflow-providers-amazon"] == "9.39.0"
