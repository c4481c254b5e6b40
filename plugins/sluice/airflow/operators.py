"""sluice's operators: a dbt command over a task's nodes, and an atomic zone's stage and publish."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowRuntimeError, AirflowSkipException
from airflow.triggers.base import StartTriggerArgs

from sluice.airflow import lineage
from sluice.airflow.node_trigger import CLASSPATH as TRIGGER_CLASSPATH
from sluice.airflow.node_trigger import NodeResultsTrigger
from sluice.errors import DbtCommandError, NodesNotPassed, SluiceError
from sluice.plan.run_options import RunScope, run_values
from sluice.runtime import zone
from sluice.runtime.dbt import DbtCall, DbtProcess, dbt_execution
from sluice.runtime.freshness import StaleSourceError, check_freshness
from sluice.runtime.lease import Holder
from sluice.runtime.node_results import PASSED, Outbox, deselected, published
from sluice.spec.models import ExecutionMode


class DbtNodeOperator(BaseOperator):
    """Runs one DbtCall (``dbt <command> --select <nodes>``), streaming dbt's output to the log.

    Built with :func:`dbt_task`. It has no ``__init__`` of its own on purpose: every operator
    subclass level repeats Airflow's default-argument merging, which is most of the cost of
    building a DAG of 10,000 tasks.

    A task that watches its zone's build task (``watch``) starts in the triggerer, not on a
    worker: NodeResultsTrigger ends it from the build's published results, and hands it back to
    :meth:`resume` on a worker only to run its own nodes (a retry, a build that died).
    """

    ui_color = "#ff9a6c"
    call: DbtCall | None = None
    watch: str | None = None
    #: what the run's select option leaves in (None: everything)
    scope: RunScope | None = None
    _process: DbtProcess | None = None
    #: each node's outcome where the zone build said it (selector -> passed), for lineage
    _passed: dict[str, bool] | None = None

    def execute(self, context: Any) -> None:
        call = self._call()
        if not selected(self.scope, call.select, context):
            raise AirflowSkipException(f"{call.describe()}: not selected in this run")
        ti = context["ti"]
        # first tries in a DAG run may be answered from the run's build of the zone; a retry, a
        # cleared task or `airflow tasks test` (a throwaway run) runs its own nodes
        lone = ti.try_number > 1 or str(ti.run_id).startswith("__airflow_temporary_run")
        if self.watch and not lone and dbt_execution(call.execution) is ExecutionMode.WORKER:
            # started on a worker after all (`airflow dags test` starts no task in the triggerer):
            # wait for the zone build's results the same way, from here
            me = {"dag_id": ti.dag_id, "run_id": ti.run_id, "try_number": ti.try_number}
            self.defer(trigger=NodeResultsTrigger(self.watch, list(call.select), ti=me), method_name="resume")
        key = None if lone else zone_run_key(context, self.task_group)
        self._run(for_run(call, context, self.scope), key)

    def resume(self, context: Any, event: Any = None) -> None:
        """Back on a worker from NodeResultsTrigger: end with the zone build's result, or run the
        task's own nodes when the build could not answer it."""
        call = self._call()
        if isinstance(event, dict) and event.get("skipped"):
            raise AirflowSkipException(f"{call.describe()}: not selected in this run")
        if isinstance(event, dict) and "passed" in event:
            self._passed = {str(k): bool(v) for k, v in (event.get("nodes") or {}).items()}
            self.log.info("answered from the zone build task %s (its results in XCom):", self.watch)
            for line in event.get("lines") or []:
                self.log.info("%s", line)
            if not event["passed"]:
                error = event.get("error")
                raise DbtCommandError(f"dbt {call.command} failed for {call.describe()}: {error}")
            return
        if event in ("success", "failed"):  # the trigger ended the task (a runner that resumes anyway)
            if event == "failed":
                raise DbtCommandError(f"dbt {call.command} failed for {call.describe()}; see the log above")
            return
        if not selected(self.scope, call.select, context):  # a build that ended before saying so
            raise AirflowSkipException(f"{call.describe()}: not selected in this run")
        reason = event.get("lone") if isinstance(event, dict) else f"unexpected event {event!r}"
        self.log.info("not answered from the zone build: %s; running this task's nodes", reason)
        batch = isinstance(event, dict) and bool(event.get("batch"))
        key = zone_run_key(context, self.task_group) if batch else None
        self._run(for_run(call, context, self.scope), key)

    def _call(self) -> DbtCall:
        if self.call is None:
            raise SluiceError(f"{self.task_id}: no dbt call; build this operator with dbt_task()")
        return self.call

    def _run(self, call: DbtCall, batch_key: str | None) -> None:
        self._process = DbtProcess(call)
        self._process.run(self.log.info, batch_key)

    def on_kill(self) -> None:
        if self._process is not None:
            self._process.kill()

    def get_openlineage_facets_on_start(self) -> Any:
        return lineage.dbt_lineage(self.call)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return lineage.dbt_lineage(self.call, lineage.outcome(self._call().select, True, self._passed))

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return lineage.dbt_lineage(self.call, lineage.outcome(self._call().select, False, self._passed))


def selected(scope: RunScope | None, selectors: tuple[str, ...], context: Any) -> bool:
    """Whether the run's select option leaves in a dbt task over ``selectors``."""
    if scope is None:
        return True
    return scope.runs(selectors, scope.chosen(run_values(context.get("params") or {})[1]))


def for_run(call: DbtCall, context: Any, scope: RunScope | None = None) -> DbtCall:
    """The call as this DAG run asks for it: the trigger's full_refresh, its vars, and the run's
    data interval as dbt vars (``data_interval_start``, ``data_interval_end``, ISO 8601), so an
    incremental model can load exactly its interval and a backfill loads each interval once. A
    run without an interval (a manual run with no logical date) passes none; the model then
    chooses for itself. The trigger's vars win over the interval's where they share a key (a
    manual run can name its own window). A zone build builds what the run's select leaves in."""
    full_refresh, select, trigger_vars = run_values(context.get("params") or {})
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    run_vars: dict[str, Any] = {}
    if start is not None and end is not None:
        run_vars = {"data_interval_start": start.isoformat(), "data_interval_end": end.isoformat()}
    run_vars.update(trigger_vars)
    batch = scope.batch(call.batch, scope.chosen(select)) if scope and call.batch else call.batch
    if not run_vars and not full_refresh and batch == call.batch:
        return call
    return dataclasses.replace(
        call, run_vars=json.dumps(run_vars) if run_vars else None, full_refresh=full_refresh, batch=batch
    )


def zone_run_key(context: Any, group: Any) -> str:
    """What names one build of a zone in one DAG run, for the warm dbt worker. The run's start
    tells apart two runs under one run id (a deleted run made again, a reset metadata database),
    which must not share a zone build."""
    ti = context["ti"]
    started = context["dag_run"].start_date
    zone = group.group_id if group else ""
    return f"{ti.dag_id}/{ti.run_id}/{started.isoformat() if started else ''}/{zone}"


def watching(op: DbtNodeOperator, watch: str | None) -> DbtNodeOperator:
    """Have the scheduler start ``op`` in the triggerer, answered by the zone build ``watch``."""
    op.watch = watch
    if watch and op.call is not None:
        op.start_from_trigger = True
        op.start_trigger_args = StartTriggerArgs(
            trigger_cls=TRIGGER_CLASSPATH,
            trigger_kwargs={"build_task": watch, "selectors": list(op.call.select)},
            next_method="resume",
        )
    return op


def dbt_task(
    call: DbtCall, watch: str | None = None, scope: RunScope | None = None, **kwargs: Any
) -> DbtNodeOperator:
    """A DbtNodeOperator for ``call``; other keyword arguments go to BaseOperator."""
    op = DbtNodeOperator(**kwargs)
    op.call, op.scope = call, scope
    return watching(op, watch)


class ZoneBuildOperator(BaseOperator):
    """A zone's one `dbt build` in the warm dbt worker, publishing each node's result (XCom) as
    dbt finishes it, for the zone's tasks waiting in the triggerer. It succeeds when every node
    passed; it fails when one did not (that node's own task fails too, with dbt's error), so the
    next zone's build does not start, and when dbt could not build the zone (its tasks then run
    their own nodes). Built with :func:`zone_build_task`."""

    ui_color = "#f4c28d"
    call: DbtCall | None = None
    scope: RunScope | None = None
    _process: DbtProcess | None = None

    def execute(self, context: Any) -> None:
        if self.call is None:
            raise SluiceError(f"{self.task_id}: no dbt call; build this operator with zone_build_task()")
        ti = context["ti"]
        call = for_run(self.call, context, self.scope)
        zone_nodes = frozenset(call.batch)
        outbox = Outbox(
            xcom_writer(ti, self.log), ti.try_number, lineage=lineage.build_context(call, context)
        )
        left_out = [s for s in self.call.batch if s not in zone_nodes]
        for selector in left_out:  # their tasks, waiting in the triggerer, end skipped
            outbox.add(selector, deselected())
        outbox.flush()
        if left_out:
            self.log.info("select: %d of the zone's %d nodes left out", len(left_out), len(self.call.batch))
        if not zone_nodes:
            raise AirflowSkipException("no node of this zone selected in this run; its tasks are skipped")
        statuses: Counter[str] = Counter()
        not_passed: list[str] = []

        def publish(message: dict[str, Any]) -> None:
            if message["node"] not in zone_nodes:  # no task of the zone waits for it
                return
            result = published(message)
            outbox.add(str(message["node"]), result)
            statuses[result["status"]] += 1
            if result["status"] not in PASSED:
                not_passed.append(f"{message['node']} ({result['status']})")
            self.log.info("%s: %s (%.2f s)", message["node"], result["status"], result["seconds"])

        def log(line: str) -> None:
            self.log.info("%s", line)
            outbox.tick()  # a finished node's result goes out while dbt is busy with the next ones

        self._process = DbtProcess(call)
        try:
            ended = self._process.build_zone(log, zone_run_key(context, self.task_group), publish)
        finally:
            outbox.flush()
        counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        self.log.info("zone build: %s", counts or "no nodes")
        if not ended:
            raise SluiceError("dbt stopped before the end of the zone build; its tasks run their own nodes")
        if not_passed:
            # the next zone's build waits for this one: it must not start on a zone that failed
            listed = ", ".join(not_passed)
            raise NodesNotPassed(f"{len(not_passed)} not passed, each failed on its own task: {listed}")

    def on_kill(self) -> None:
        if self._process is not None:
            self._process.kill()


def zone_build_task(call: DbtCall, scope: RunScope | None = None, **kwargs: Any) -> ZoneBuildOperator:
    """A ZoneBuildOperator building ``call.batch``; other keyword arguments go to BaseOperator."""
    op = ZoneBuildOperator(**kwargs)
    op.call, op.scope = call, scope
    return op


class SourceFreshnessOperator(BaseOperator):
    """A zone's `dbt source freshness` check, before the zone: it logs each source's age and
    succeeds when none is past its error_after (past warn_after: a warning in the log). A stale
    source fails it at once, with no retry: retrying cannot load newer rows; a check dbt could
    not make (a lost connection) is retried like any task. Built with :func:`freshness_task`."""

    ui_color = "#b5d3e7"
    call: DbtCall | None = None
    _process: DbtProcess | None = None

    def execute(self, context: Any) -> None:
        if self.call is None:
            raise SluiceError(f"{self.task_id}: no dbt call; build this operator with freshness_task()")
        self._process = DbtProcess(for_run(self.call, context))
        try:
            check_freshness(self._process, self.log.info, self.log.warning)
        except StaleSourceError as exc:
            raise AirflowFailException(str(exc)) from None

    def on_kill(self) -> None:
        if self._process is not None:
            self._process.kill()


def freshness_task(call: DbtCall, **kwargs: Any) -> SourceFreshnessOperator:
    """A SourceFreshnessOperator running ``call``; other keyword arguments go to BaseOperator."""
    op = SourceFreshnessOperator(**kwargs)
    op.call = call
    return op


class ZoneStepOperator(BaseOperator):
    """An atomic zone's stage task (fresh staging copy) or publish task (swap it live).

    The publish task runs whatever happened in its zone (the plan gives it trigger rule
    ``all_done_min_one_success``) so that, when a model or blocking test failed, it can say which
    one held the publish back and how to query the staging copy, and then fail, leaving live
    untouched. Built with :func:`zone_task`.
    """

    ui_color = "#9fd5a3"
    step: str = "publish"
    zone: str = ""
    schemas: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    relations: tuple[str, ...] = ()
    call: DbtCall | None = None
    scope: RunScope | None = None

    def execute(self, context: Any) -> None:
        if self.call is None:
            raise SluiceError(f"{self.task_id}: no dbt call; build this operator with zone_task()")
        if self.scope is not None:
            chosen = self.scope.chosen(run_values(context.get("params") or {})[1])
            if not self.scope.zone_runs(self.zone, chosen):
                raise AirflowSkipException(f"zone {self.zone}: no model of it selected; live is untouched")
        ti = context["ti"]
        holder = Holder(f"{ti.dag_id}/{ti.run_id}", lambda run: _run_is_live(ti, run, self.log.info))
        if self.step == "stage":
            zone.stage(self.call, self.zone, self.schemas, self.keep, holder, self.log.info)
            return
        states = ti.get_task_states(
            dag_id=ti.dag_id, task_ids=sorted(self.upstream_task_ids), run_ids=[ti.run_id]
        )
        blockers = [
            f"{tid} ({state})"
            for tid, state in sorted(states.get(ti.run_id, {}).items())
            if state != "success"
        ]
        if blockers:
            zone.report_blocked(self.call, self.zone, self.schemas, blockers, self.log.info)
        zone.publish(self.call, self.zone, self.schemas, self.relations, holder, self.log.info)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """A publish makes a new version of each relation of its zone: the DAG run's."""
        if self.step != "publish":
            return lineage.dbt_lineage(None)
        version = f"{task_instance.dag_id}/{task_instance.run_id}"
        return lineage.publish_lineage(self.call, self.relations, version)


def _run_is_live(ti: Any, run: str, log: Any) -> bool:
    """Whether the DAG run that holds a zone's lease ("<dag_id>/<run_id>") is queued or running;
    when Airflow cannot say, it counts as running (its lease is then only taken over by age)."""
    dag_id, _, run_id = run.partition("/")
    try:
        count = ti.get_dr_count(dag_id=dag_id, run_ids=[run_id], states=["queued", "running"])
    except Exception as exc:  # an unanswered question must not free a lease
        log(f"could not ask Airflow whether run {run} is running ({exc}); taking it as running")
        return True
    return bool(count)


def zone_task(
    step: str,
    zone_name: str,
    schemas: tuple[str, ...],
    keep: tuple[str, ...],
    call: DbtCall,
    *,
    relations: tuple[str, ...] = (),
    scope: RunScope | None = None,
    **kwargs: Any,
) -> ZoneStepOperator:
    """A ZoneStepOperator; ``call`` gives the project, target and execution to run dbt with;
    ``relations`` the publish task checks in staging before the swap. A publish task needs the
    trigger rule its plan task carries (``all_done_min_one_success``)."""
    op = ZoneStepOperator(**kwargs)
    op.step, op.zone, op.schemas, op.keep, op.call = step, zone_name, schemas, keep, call
    op.relations, op.scope = relations, scope
    return op


#: waits before writing a zone build's XCom again. Airflow's client sends a write again when the
#: API server is slow to answer it, and the second write can collide with the first in the
#: database (409, seen with a loaded machine at 1,000 models); the value is the same either way
XCOM_RETRY_SECONDS = (1.0, 3.0, 10.0)


def xcom_writer(ti: Any, log: Any) -> Callable[[str, Any], None]:
    """``ti.xcom_push`` that writes again, after each of XCOM_RETRY_SECONDS, when the API server
    refused the write: one refused chunk of results must not fail a zone's whole build."""

    def push(key: str, value: Any) -> None:
        for wait in XCOM_RETRY_SECONDS:
            try:
                ti.xcom_push(key=key, value=value)
                return
            except AirflowRuntimeError as exc:
                log.warning("XCom %s not written (%s); writing it again in %.0f s", key, exc, wait)
                time.sleep(wait)
        ti.xcom_push(key=key, value=value)

    return push
