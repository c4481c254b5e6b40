"""The trigger a dbt model or test task runs in the triggerer: it waits for its nodes' results
from the zone build task's XComs, writes dbt's lines for them into the task's log, and ends the
task, so the task costs no worker process. Every trigger of one zone build in a triggerer shares
one reading of the build's results (a BuildFeed), polled at most every POLL_SECONDS.

It reads through the Task SDK (XCom.get_one, the task states), as any task does: the triggerer
and the workers may be different machines (Celery, MWAA), and Airflow's API is what they share.
When the task cannot be answered from the build (a retry or a cleared task, a build that ended
without its nodes), it hands the task back to a worker, which runs the task's own nodes.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import (
    BaseTrigger,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)

from sluice.airflow.alerts import ERROR_XCOM
from sluice.airflow.lineage import emit_ended
from sluice.errors import SluiceError
from sluice.runtime.node_results import HEAD_KEY, PASSED, Inbox, chunk_key, verdict

CLASSPATH = "sluice.airflow.node_trigger.NodeResultsTrigger"
#: how often the results of a zone build are read, for all the triggers waiting on it
POLL_SECONDS = 0.25
#: zone builds whose results a triggerer keeps (a zone's tasks start over the whole build)
MAX_FEEDS = 64
#: states in which the zone build task will publish no more results
_BUILD_OVER = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})
#: states of a build task that has not started; a sequential runner (`airflow dags test`) that
#: deferred a task first never starts it while the trigger waits
_BUILD_UNSTARTED = frozenset({"none", "scheduled", "queued", ""})


class NodeResultsTrigger(BaseTrigger):
    """Waits for ``selectors``' results published by ``build_task`` of the same DAG run.

    Started by the scheduler (``start_from_trigger``), it knows its task instance from the
    triggerer and ends the task itself (TaskSuccessEvent / TaskFailedEvent). Deferred by a task
    running on a worker (``ti`` given: ``airflow dags test``), it resumes the task with the result.
    A task it cannot answer is resumed with ``{"lone": reason}``.
    """

    def __init__(
        self,
        build_task: str,
        selectors: list[str],
        ti: dict[str, Any] | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.build_task = build_task
        self.selectors = list(selectors)
        self.ti = ti
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {"build_task": self.build_task, "selectors": self.selectors, "ti": self.ti}
        return CLASSPATH, {**kwargs, "poll_seconds": self.poll_seconds}

    def _identity(self) -> dict[str, Any]:
        if self.ti is not None:
            return self.ti
        ti = self.task_instance
        if ti is None:
            raise SluiceError(f"{CLASSPATH} needs its task instance (start_from_trigger) or ti")
        return {"dag_id": ti.dag_id, "run_id": ti.run_id, "try_number": ti.try_number}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        me = self._identity()
        if int(me.get("try_number") or 1) > 1:
            yield _event({"lone": "a retry or a cleared task runs its own nodes"})
            return
        feed = _feed(me, self.build_task)
        while True:
            # the build's state is read before its results: a build that was over had published all
            await feed.refresh(self, me, self.poll_seconds)
            found = {s: feed.inbox.results[s] for s in self.selectors if s in feed.inbox.results}
            if len(found) == len(self.selectors):
                ended = self._ended(found)
                if self.ti is None and feed.inbox.lineage:  # ended here: no listener sees it
                    await asyncio.to_thread(emit_ended, feed.inbox.lineage, self.task_instance, found)
                yield ended
                return
            if feed.state in _BUILD_OVER:
                missing = ", ".join(s for s in self.selectors if s not in found)
                reason = f"the zone build task {self.build_task} ended {feed.state} without {missing}"
                yield _event({"lone": reason})
                return
            if self.ti is not None and feed.state in _BUILD_UNSTARTED:
                reason = f"the zone build task {self.build_task} has not started ({feed.state})"
                yield _event({"lone": reason, "batch": True})
                return
            await asyncio.sleep(self.poll_seconds)

    def _xcom(self, me: dict[str, Any], key: str) -> Any:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_one(key=key, dag_id=me["dag_id"], task_id=self.build_task, run_id=me["run_id"])

    def _build_state(self, me: dict[str, Any]) -> str:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        states = RuntimeTaskInstance.get_task_states(
            dag_id=me["dag_id"], task_ids=[self.build_task], run_ids=[me["run_id"]]
        )
        return str(states.get(me["run_id"], {}).get(self.build_task) or "none")

    def _ended(self, found: dict[str, dict[str, Any]]) -> TriggerEvent:
        outcome = verdict({s: found[s] for s in self.selectors})
        if self.ti is not None:  # a worker waits to be resumed with the result
            if outcome.skipped:
                return _event({"skipped": True})
            nodes = {s: found[s].get("status") in PASSED for s in self.selectors}  # for lineage
            return _event(
                {"passed": outcome.passed, "lines": outcome.lines, "error": outcome.error, "nodes": nodes}
            )
        if outcome.skipped:
            self.log.info("not selected in this run (says the zone build task %s): skipped", self.build_task)
            return TaskSkippedEvent()
        self.log.info("answered from the zone build task %s (its results in XCom):", self.build_task)
        for line in outcome.lines:
            self.log.info("%s", line)
        if outcome.passed:
            return TaskSuccessEvent()
        self.log.error("%s", outcome.error)
        # the task's failure alert runs in the DAG processor, without this exception: it reads the line
        return TaskFailedEvent(xcoms={ERROR_XCOM: outcome.error})


def _event(payload: dict[str, Any]) -> TriggerEvent:
    """A TriggerEvent: the task resumes on a worker with ``payload``."""
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


class BuildFeed:
    """What one zone build has published, as this process has read it: one reading per poll for
    every trigger waiting on that build."""

    def __init__(self) -> None:
        #: an asyncio lock serves one event loop (`airflow dags test` runs a loop per trigger)
        self.loop = asyncio.get_running_loop()
        self.inbox = Inbox()
        self.state = "none"
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self, reader: NodeResultsTrigger, me: dict[str, Any], fresh_for: float) -> None:
        """Read the build's state and new results, unless a reading is under ``fresh_for`` s old."""
        async with self._lock:
            if time.monotonic() - self._read_at < fresh_for:
                return
            self.state = await asyncio.to_thread(reader._build_state, me)
            if self.state not in _BUILD_UNSTARTED:
                head = await asyncio.to_thread(reader._xcom, me, HEAD_KEY)
                for index in self.inbox.wanted(head):
                    chunk = await asyncio.to_thread(reader._xcom, me, chunk_key(index))
                    if not self.inbox.take(index, chunk):
                        break
            self._read_at = time.monotonic()


#: (dag_id, run_id, build task) -> its feed
_feeds: OrderedDict[tuple[str, str, str], BuildFeed] = OrderedDict()


def _feed(me: dict[str, Any], build_task: str) -> BuildFeed:
    key = (str(me["dag_id"]), str(me["run_id"]), build_task)
    feed = _feeds.get(key)
    if feed is None or feed.loop is not asyncio.get_running_loop():
        feed = _feeds[key] = BuildFeed()
        while len(_feeds) > MAX_FEEDS:
            _feeds.popitem(last=False)
    else:
        _feeds.move_to_end(key)
    return feed
