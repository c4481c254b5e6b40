"""What Airflow's DagBag makes of dags/: the demo DAG as planned, and broken specs isolated."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import line_of
from tests.integration.conftest import Sandbox, dagbag_json

pytestmark = pytest.mark.integration


def _plan(box: Sandbox) -> dict[str, Any]:
    done = box.run(sys.executable, "-m", "sluice.cli", "plan", "payments_daily", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_demo_dag_has_zone_groups_and_the_planned_edges(sandbox: Callable[..., Sandbox]) -> None:
    box = sandbox(migrate=False)
    bag = dagbag_json(box)
    assert bag["import_errors"] == {}
    tasks = bag["dags"]["payments_daily"]  # type: ignore[index]
    plan = _plan(box)
    assert set(tasks) == {t["id"] for t in plan["tasks"]}
    for t in plan["tasks"]:
        assert tasks[t["id"]]["upstream"] == sorted(t["upstream"]), t["id"]
        assert tasks[t["id"]]["group"] == t["zone"]
    gateway = tasks["silver.gateway"]
    assert gateway["type"] == "EmptyOperator"
    run = tasks["gold.customer_balances_run"]
    assert run["type"] == "DbtNodeOperator"
    manifest = json.loads((box.dbt / "target" / "manifest.json").read_text())
    description = manifest["nodes"]["model.payments.customer_balances"]["description"]
    assert description and description in run["doc_md"], "the model's description"
    assert "models/gold/customer_balances.sql" in run["doc_md"], "the model's file"
    assert "relationships_customer_balances_customer_id" in tasks["gold.customer_balances_test"]["doc_md"]


def test_broken_spec_is_one_import_error_and_the_good_pipeline_still_loads(
    sandbox: Callable[..., Sandbox],
) -> None:
    box = sandbox(migrate=False)
    good = (box.dags / "pipelines" / "payments_daily.yml").read_text()
    broken = good.replace("pipeline: payments_daily", "pipeline: payments_broken").replace(
        "    select: [path:models/gold]", "    selects: [path:models/gold]"
    )
    (box.dags / "pipelines" / "broken.yml").write_text(broken)
    bag = dagbag_json(box)
    assert list(bag["dags"]) == ["payments_daily"]  # type: ignore[arg-type]
    errors: dict[str, str] = bag["import_errors"]  # type: ignore[assignment]
    assert len(errors) == 1, errors
    ((where, message),) = errors.items()
    assert where.endswith("sluice_import_errors.py")
    at = line_of(broken, "selects:")
    assert f"dags/pipelines/broken.yml:{at}: zones[2].selects: unknown key" in message
    assert "payments_daily.yml" not in message


def test_cli_validate_agrees_with_the_import_error(sandbox: Callable[..., Sandbox]) -> None:
    box = sandbox(migrate=False)
    (box.dags / "pipelines" / "broken.yml").write_text("pipeline: x\nzones: []\n")
    done = box.run(sys.executable, "-m", "sluice.cli", "validate")
    assert done.returncode == 1
    assert done.stdout.strip() == "dags/pipelines/broken.yml:2: zones: a pipeline needs at least one zone"


def test_airflow_plugin_loading_leaves_the_sluice_package_alone(sandbox: Callable[..., Sandbox]) -> None:
    """Airflow imports each .py file under plugins/ as a top-level module in every task process;
    plugins/.airflowignore keeps it out of sluice/, or sluice/runtime/dbt.py would become `dbt`."""
    box = sandbox(migrate=False)
    done = box.python(
        "import sys\n"
        "from airflow import plugins_manager\n"
        "plugins_manager.ensure_plugins_loaded()\n"
        "print('ERRORS', plugins_manager.get_import_errors())\n"
        "print('STRAYS', sorted(n for n, m in list(sys.modules.items())\n"
        "    if '/plugins/sluice/' in (getattr(m, '__file__', None) or '') and not n.startswith('sluice')))\n"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ERRORS {}" in done.stdout and "STRAYS []" in done.stdout, done.stdout[-2000:]
