"""NodeResultsTrigger: how a dbt task waiting in the triggerer ends, from the zone build task's
published results and state (Airflow's XCom and task-state reads replaced by a table here)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent

from sluice.airflow.node_trigger import NodeResultsTrigger
from sluice.runtime.node_results import capped, deselected, published, result_key

SELECTORS = ["fqn:shop.silver.orders"]
ME = {"dag_id": "p", "run_id": "r1", "try_number": 1}


class Airflow:
    """What the trigger reads: XComs of the build task, and its state."""

    def __init__(self, xcoms: dict[str, Any], state: str) -> None:
        self.xcoms, self.state, self.reads = xcoms, state, 0

    def install(self, trigger: NodeResultsTrigger) -> NodeResultsTrigger:
        def xcom(me: dict[str, Any], key: str) -> Any:
            self.reads += 1
            return self.xcoms.get(key)

        trigger._xcom = xcom  # type: ignore[method-assign]
        trigger._build_state = lambda me: self.state  # type: ignore[method-assign]
        return trigger


def first_event(trigger: NodeResultsTrigger) -> TriggerEvent:
    async def first() -> TriggerEvent:
        return await anext(trigger.run())

    return asyncio.run(asyncio.wait_for(first(), 10))


def result(status: str, message: str = "", lines: tuple[str, ...] = ()) -> dict[str, Any]:
    return published({"status": status, "message": message, "seconds": 0.2, "lines": list(lines)})


def test_a_passed_node_ends_its_task_succeeded_in_the_triggerer() -> None:
    found = Airflow(
        {result_key(SELECTORS[0]): result("success", lines=("1 of 1 OK created orders",))}, "running"
    )
    trigger = found.install(NodeResultsTrigger("silver.build", SELECTORS, ti=None))
    trigger.task_instance = SimpleNamespace(**ME, task_id="silver.orders_run", task=None)  # type: ignore[assignment]
    assert isinstance(first_event(trigger), TaskSuccessEvent)


def test_a_failed_node_fails_its_task_with_dbts_first_error_line(caplog: pytest.LogCaptureFixture) -> None:
    error = "Runtime Error in model orders (models/silver/orders.sql)\n  Binder Error: no column x"
    found = Airflow(
        {result_key(SELECTORS[0]): result("error", error, ("1 of 1 ERROR creating orders",))}, "running"
    )
    trigger = found.install(NodeResultsTrigger("silver.build", SELECTORS))
    trigger.task_instance = SimpleNamespace(**ME, task_id="silver.orders_run", task=None)  # type: ignore[assignment]
    trigger._log = logging.getLogger("sluice.test.trigger")  # type: ignore[assignment]
    with caplog.at_level("INFO"):
        assert isinstance(first_event(trigger), TaskFailedEvent)
    assert "1 of 1 ERROR creating orders" in caplog.text, "dbt's lines for the node, in the task's log"
    assert "fqn:shop.silver.orders error: Runtime Error in model orders" in caplog.text


def test_a_node_the_runs_selection_left_out_ends_its_task_skipped() -> None:
    found = Airflow({result_key(SELECTORS[0]): deselected()}, "running")
    trigger = found.install(NodeResultsTrigger("silver.build", SELECTORS))
    trigger.task_instance = SimpleNamespace(**ME, task_id="silver.orders_run", task=None)  # type: ignore[assignment]
    assert isinstance(first_event(trigger), TaskSkippedEvent)
    # a task deferred from a worker (`airflow dags test`) is resumed to skip itself there
    waiting = found.install(NodeResultsTrigger("silver.build", SELECTORS, ti=ME))
    assert first_event(waiting).payload == {"skipped": True}
    # one node of a test task left out and one built: the task is not skipped
    two = [*SELECTORS, "fqn:shop.silver.other"]
    mixed = Airflow({result_key(two[0]): deselected(), result_key(two[1]): result("pass")}, "running")
    assert first_event(mixed.install(NodeResultsTrigger("silver.build", two, ti=ME))).payload["passed"]


def test_a_retry_or_cleared_task_runs_its_own_nodes_without_reading_results() -> None:
    found = Airflow({result_key(SELECTORS[0]): result("success")}, "success")
    trigger = found.install(NodeResultsTrigger("silver.build", SELECTORS, ti={**ME, "try_number": 2}))
    event = first_event(trigger)
    assert "lone" in event.payload and not event.payload.get("batch")
    assert found.reads == 0, "an earlier try's build result must not answer a retry"


def test_a_build_that_ended_without_the_node_hands_the_task_back_to_a_worker() -> None:
    trigger = Airflow({}, "failed").install(NodeResultsTrigger("silver.build", SELECTORS, ti=ME))
    event = first_event(trigger)
    assert event.payload == {
        "lone": "the zone build task silver.build ended failed without fqn:shop.silver.orders"
    }


def test_waits_while_the_build_runs_then_takes_the_result() -> None:
    found = Airflow({}, "running")
    trigger = found.install(NodeResultsTrigger("silver.build", SELECTORS, ti=ME, poll_seconds=0.01))

    async def later() -> TriggerEvent:
        task = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(0.1)
        assert not task.done(), "no result yet: still waiting"
        found.xcoms[result_key(SELECTORS[0])] = result("pass")
        return await asyncio.wait_for(task, 10)

    event = asyncio.run(later())
    assert event.payload == {"passed": True, "lines": [], "error": None}, "a worker waits to resume"


def test_a_sequential_runner_does_not_wait_for_a_build_it_has_not_started() -> None:
    """`airflow dags test` runs one task at a time: the task runs from the warm worker's build."""
    trigger = Airflow({}, "scheduled").install(NodeResultsTrigger("silver.build", SELECTORS, ti=ME))
    assert first_event(trigger).payload.get("batch") is True


def test_a_chatty_node_keeps_its_first_lines_and_says_how_many_it_dropped() -> None:
    kept = capped([f"line {i}" for i in range(1000)])
    assert kept[0] == "line 0" and "more lines of dbt's output not kept" in kept[-1]
    assert sum(map(len, kept)) < 20_000


def test_a_long_selector_gets_a_key_airflow_can_store() -> None:
    long = "fqn:" + ".".join(["x" * 60] * 10)
    key = result_key(long)
    assert len(key) <= 250 and key != result_key(long + "y")
