"""NodeResultsTrigger: how a dbt task waiting in the triggerer ends, from the zone build task's
published results and state (Airflow's XCom and task-state reads replaced by a table here, the
build's side by sluice's own Outbox)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent

from sluice.airflow import node_trigger
from sluice.airflow.node_trigger import NodeResultsTrigger
from sluice.runtime.node_results import FLUSH_SECONDS, Inbox, Outbox, capped, deselected, published

SELECTORS = ["fqn:shop.silver.orders"]
ME = {"dag_id": "p", "run_id": "r1", "try_number": 1}


class Airflow:
    """What the trigger reads: XComs of the build task (pushed by the build's Outbox), its state."""

    def __init__(self, results: dict[str, Any], state: str, try_number: int = 1) -> None:
        self.xcoms: dict[str, Any] = {}
        self.state, self.reads = state, 0
        self.outbox = Outbox(self.xcoms.__setitem__, try_number, clock=lambda: 1e9)
        self.publish(results)

    def publish(self, results: dict[str, Any]) -> None:
        for selector, value in results.items():
            self.outbox.add(selector, value)
        self.outbox.flush()

    def install(self, trigger: NodeResultsTrigger) -> NodeResultsTrigger:
        def xcom(me: dict[str, Any], key: str) -> Any:
            self.reads += 1
            return self.xcoms.get(key)

        trigger._xcom = xcom  # type: ignore[method-assign]
        trigger._build_state = lambda me: self.state  # type: ignore[method-assign]
        return trigger


@pytest.fixture(autouse=True)
def no_feeds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's triggers read their own builds."""
    monkeypatch.setattr(node_trigger, "_feeds", type(node_trigger._feeds)())


def first_event(trigger: NodeResultsTrigger) -> TriggerEvent:
    async def first() -> TriggerEvent:
        return await anext(trigger.run())

    return asyncio.run(asyncio.wait_for(first(), 10))


def result(status: str, message: str = "", lines: tuple[str, ...] = ()) -> dict[str, Any]:
    return published({"status": status, "message": message, "seconds": 0.2, "lines": list(lines)})


def test_a_passed_node_ends_its_task_succeeded_in_the_triggerer() -> None:
    found = Airflow({SELECTORS[0]: result("success", lines=("1 of 1 OK created orders",))}, "running")
    trigger = found.install(NodeResultsTrigger("silver.build", SELECTORS, ti=None))
    trigger.task_instance = SimpleNamespace(**ME, task_id="silver.orders_run", task=None)  # type: ignore[assignment]
    assert isinstance(first_event(trigger), TaskSuccessEvent)


def test_a_failed_node_fails_its_task_with_dbts_first_error_line(caplog: pytest.LogCaptureFixture) -> None:
    error = "Runtime Error in model orders (models/silver/orders.sql)\n  Binder Error: no column x"
    found = Airflow({SELECTORS[0]: result("error", error, ("1 of 1 ERROR creating orders",))}, "running")
    trigger = found.install(NodeResultsTrigger("silver.build", SELECTORS))
    trigger.task_instance = SimpleNamespace(**ME, task_id="silver.orders_run", task=None)  # type: ignore[assignment]
    trigger._log = logging.getLogger("sluice.test.trigger")  # type: ignore[assignment]
    with caplog.at_level("INFO"):
        assert isinstance(first_event(trigger), TaskFailedEvent)
    assert "1 of 1 ERROR creating orders" in caplog.text, "dbt's lines for the node, in the task's log"
    assert "fqn:shop.silver.orders error: Runtime Error in model orders" in caplog.text


def test_a_node_the_runs_selection_left_out_ends_its_task_skipped() -> None:
    found = Airflow({SELECTORS[0]: deselected()}, "running")
    trigger = found.install(NodeResultsTrigger("silver.build", SELECTORS))
    trigger.task_instance = SimpleNamespace(**ME, task_id="silver.orders_run", task=None)  # type: ignore[assignment]
    assert isinstance(first_event(trigger), TaskSkippedEvent)
    # a task deferred from a worker (`airflow dags test`) is resumed to skip itself there
    waiting = found.install(NodeResultsTrigger("silver.build", SELECTORS, ti=ME))
    assert first_event(waiting).payload == {"skipped": True}
    # one node of a test task left out and one built: the task is not skipped
    two = [*SELECTORS, "fqn:shop.silver.other"]
    mixed = Airflow({two[0]: deselected(), two[1]: result("pass")}, "running")
    assert first_event(mixed.install(NodeResultsTrigger("silver.build", two, ti=ME))).payload["passed"]


def test_a_retry_or_cleared_task_runs_its_own_nodes_without_reading_results() -> None:
    found = Airflow({SELECTORS[0]: result("success")}, "success")
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
        found.publish({SELECTORS[0]: result("pass")})
        return await asyncio.wait_for(task, 10)

    event = asyncio.run(later())
    expected = {"passed": True, "lines": [], "error": None, "nodes": {"fqn:shop.silver.orders": True}}
    assert event.payload == expected, "a worker waits to resume"


def test_a_sequential_runner_does_not_wait_for_a_build_it_has_not_started() -> None:
    """`airflow dags test` runs one task at a time: the task runs from the warm worker's build."""
    trigger = Airflow({}, "scheduled").install(NodeResultsTrigger("silver.build", SELECTORS, ti=ME))
    assert first_event(trigger).payload.get("batch") is True


def test_a_chatty_node_keeps_its_first_lines_and_says_how_many_it_dropped() -> None:
    kept = capped([f"line {i}" for i in range(1000)])
    assert kept[0] == "line 0" and "more lines of dbt's output not kept" in kept[-1]
    assert sum(map(len, kept)) < 20_000


def test_the_build_pushes_results_in_chunks_at_most_every_flush_interval() -> None:
    now = [0.0]
    pushed: list[tuple[str, Any]] = []
    outbox = Outbox(lambda key, value: pushed.append((key, value)), 1, clock=lambda: now[0])
    for i in range(50):  # fifty tests finishing within the interval: one chunk
        outbox.add(f"fqn:shop.t{i}", result("pass"))
    assert [key for key, _ in pushed] == ["dbt_results"]
    now[0] += FLUSH_SECONDS
    outbox.tick()
    outbox.add("fqn:shop.last", result("pass"))
    outbox.flush()
    assert [key for key, _ in pushed] == [
        "dbt_results",
        "dbt_results:0",
        "dbt_results",
        "dbt_results:1",
        "dbt_results",
    ]
    assert len(pushed[1][1]) == 50 and pushed[-1][1] == {"chunks": 2, "try": 1}


def test_triggers_waiting_on_one_build_share_its_reading() -> None:
    selectors = [f"fqn:shop.silver.m{i}" for i in range(40)]
    found = Airflow({s: result("success") for s in selectors}, "running")

    async def all_of_them() -> list[TriggerEvent]:
        triggers = [found.install(NodeResultsTrigger("silver.build", [s], ti=ME)) for s in selectors]
        return await asyncio.gather(*(anext(t.run()) for t in triggers))

    events = asyncio.run(all_of_them())
    assert all(e.payload["passed"] for e in events)
    assert found.reads == 2, "one head and one chunk for forty tasks"


def test_a_new_try_of_the_build_replaces_the_results_of_the_last() -> None:
    inbox = Inbox()
    for index in inbox.wanted({"chunks": 2, "try": 1}):
        assert inbox.take(index, {f"fqn:shop.m{index}": result("error", "boom")})
    assert set(inbox.results) == {"fqn:shop.m0", "fqn:shop.m1"}
    assert inbox.wanted({"chunks": 2, "try": 1}) == range(2, 2), "nothing new: nothing read"
    # the retried build cleared its XComs and published one chunk so far
    assert inbox.wanted({"chunks": 1, "try": 2}) == range(0, 1)
    assert inbox.results == {}
    assert not inbox.take(1, {"fqn:shop.m1": result("success")}), "chunks are taken in order"
    assert inbox.wanted(None) == range(0), "no head yet"
