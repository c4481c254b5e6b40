"""`sluice report` after two real runs of the demo (`airflow dags test`): the first with a
duplicated account, so a bronze test fails, the second clean. Its timings, flaky test and
coverage are checked against what Airflow's metadata database and the manifest hold, read here
with sqlite3 and json, not through the report's code."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from statistics import mean
from typing import Any

import pytest

from sluice.plan.from_spec import plan_spec
from sluice.plan.model import BUILD_KINDS, TaskKind
from sluice.spec.reader import load_spec
from tests.integration.conftest import BIN, Sandbox

pytestmark = pytest.mark.integration
DAG = "payments_daily"
FLAKY = "bronze.raw_accounts_test"


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _database(box: Sandbox) -> dict[str, Any]:
    """Per run id (oldest first): its tries (task, state, start, end, number) and its zone
    builds' node results."""
    with sqlite3.connect(box.root / "airflow" / "airflow.db") as db:
        runs = [r for (r,) in db.execute("select run_id from dag_run where dag_id = ? order by id", (DAG,))]
        tries: dict[str, list[tuple[str, str, datetime | None, datetime | None, int]]] = defaultdict(list)
        seen: set[tuple[str, str, int]] = set()
        for table in ("task_instance", "task_instance_history"):
            for run_id, task, number, state, start, end in db.execute(
                "select run_id, task_id, try_number, state, start_date, end_date "
                f"from {table} where dag_id = ?",
                (DAG,),
            ):
                if (run_id, task, number) not in seen:  # a try is in one table or the other
                    seen.add((run_id, task, number))
                    tries[run_id].append((task, state, _when(start), _when(end), number))
        nodes: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for run_id, value in db.execute(
            "select run_id, value from xcom where dag_id = ? and key like 'dbt_results:%'", (DAG,)
        ):
            nodes[run_id].update(json.loads(value))
    return {"runs": runs, "tries": tries, "nodes": nodes}


def _seconds(db: dict[str, Any], run_id: str, task_id: str, select: tuple[str, ...]) -> float | None:
    published = [db["nodes"][run_id][s] for s in select if s in db["nodes"][run_id]]
    if published:
        ran = [r["seconds"] for r in published if r["status"] not in ("skipped", "deselected")]
        return sum(ran) if ran else None
    tries = [t for t in db["tries"][run_id] if t[0] == task_id and t[1] in ("success", "failed")]
    newest = max(tries, key=lambda t: t[4], default=None)
    return (newest[3] - newest[2]).total_seconds() if newest and newest[2] and newest[3] else None


def test_report_after_two_demo_runs_matches_the_metadata_database(sandbox: Callable[..., Sandbox]) -> None:
    box = sandbox()
    accounts = box.dbt / "seeds" / "raw_accounts.csv"
    clean = accounts.read_text()
    lines = clean.splitlines()
    accounts.write_text("\n".join([*lines, lines[1]]) + "\n")  # a duplicated account_id
    first = box.airflow("dags", "test", DAG)
    assert first.returncode != 0, "the duplicated account fails the first run"
    accounts.write_text(clean)
    second = box.airflow("dags", "test", DAG)
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    check_report(box)


def check_report(box: Sandbox) -> None:
    """The report of the sandbox's runs against its metadata database and manifest."""
    out = box.root / "report"
    specs = box.dags / "pipelines"
    done = box.run(str(BIN / "sluice"), "report", DAG, "--json", "--out", str(out), "--specs", str(specs))
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout)
    assert json.loads((out / f"{DAG}.report.json").read_text()) == facts

    db = _database(box)
    assert facts["history"]["run_ids"] == db["runs"] and len(db["runs"]) == 2
    plan = plan_spec(load_spec(specs / f"{DAG}.yml"))
    zones = {z["zone"]: z for z in facts["zones"]}
    for zone in plan.zones:
        for run_id, reported in zip(db["runs"], zones[zone]["runs"], strict=True):
            assert reported["run_id"] == run_id
            mine = [
                t
                for t in db["tries"][run_id]
                if t[0].startswith(f"{zone}.") and t[1] in ("success", "failed", "up_for_retry")
            ]
            starts = [t[2] for t in mine if t[2]]
            ends = [t[3] for t in mine if t[3]]
            wall = (max(ends) - min(starts)).total_seconds() if starts and ends else None
            assert reported["wall_seconds"] == (None if wall is None else pytest.approx(wall, abs=0.002))
            # a task's seconds: its nodes' results from the zone build (those that ran), else, for a
            # task no zone build answered (the source tests), its own duration
            build = tests = 0.0
            for task in plan.tasks:
                if task.zone == zone and task.kind in (*BUILD_KINDS, TaskKind.TEST):
                    seconds = _seconds(db, run_id, task.id, task.select)
                    if task.kind is TaskKind.TEST:
                        tests += seconds or 0.0
                    else:
                        build += seconds or 0.0
            assert reported["build_seconds"] == pytest.approx(build, abs=0.002), (zone, run_id)
            assert reported["test_seconds"] == pytest.approx(tests, abs=0.002), (zone, run_id)
    # silver never started in the first run: the second is its only timing
    assert zones["silver"]["runs"][0]["wall_seconds"] is None and zones["silver"]["runs"][1]["wall_seconds"]

    # the slowest models: the mean of their zone build seconds over the runs that built them
    select_of = {t.node: t.select for t in plan.tasks if t.kind in BUILD_KINDS}
    for zone in plan.zones:
        slowest = zones[zone]["slowest_models"]
        assert slowest, zone
        for entry in slowest:
            task = next(t for t in plan.tasks if t.node == entry["node"] and t.kind in BUILD_KINDS)
            timed = (_seconds(db, r, task.id, select_of[entry["node"]]) for r in db["runs"])
            seconds = [s for s in timed if s is not None]
            assert entry["mean_seconds"] == pytest.approx(mean(seconds), abs=0.002), entry
        assert [e["mean_seconds"] for e in slowest] == sorted(
            (e["mean_seconds"] for e in slowest), reverse=True
        )

    # the test that failed once and passed once is the flaky one, with dbt's failing test named
    states = [t[1] for r in db["runs"] for t in db["tries"][r] if t[0] == FLAKY]
    (flaky,) = zones["bronze"]["flakiest_tests"]
    assert (flaky["task"], flaky["failed"], flaky["passed"]) == (
        FLAKY,
        states.count("failed"),
        states.count("success"),
    )
    failing = [s for r in db["runs"] for s, v in db["nodes"][r].items() if v["status"] == "fail"]
    assert flaky["failing_tests"] == sorted(set(failing)) == ["fqn:payments.unique_raw_accounts_account_id"]

    # coverage: a model is tested when a test of the manifest reads it
    manifest = json.loads((box.dbt / "target" / "manifest.json").read_text())
    tested = {
        parent
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test"
        for parent in n["depends_on"]["nodes"]
    }
    for zone in plan.zones:
        models = [t.node for t in plan.tasks if t.zone == zone and t.kind is TaskKind.RUN]
        assert [u["node"] for u in zones[zone]["untested"]] == sorted(m for m in models if m not in tested)
        assert zones[zone]["models"] == len(models)

    page = (out / f"{DAG}.report.html").read_text()
    assert page.count("<svg") == 1 and "</svg>" in page
    assert "<script" not in page and "<link" not in page, "self-contained: nothing fetched"
    for name in ("stg_accounts", "customer_balances", "fraud_flags", FLAKY):
        assert name in page, name
    path = facts["critical_path"]
    assert path["basis"] == "mean dbt seconds over the runs" and path["nodes"]
    assert path["nodes"][-1]["zone"] == "gold"
