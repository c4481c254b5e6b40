"""sluice's operators: a dbt command over a task's nodes, and an atomic zone's stage and publish."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from sluice.errors import SluiceError
from sluice.runtime import zone
from sluice.runtime.dbt import DbtCall, DbtProcess
from sluice.runtime.lease import Holder


class DbtNodeOperator(BaseOperator):
    """Runs one DbtCall (``dbt <command> --select <nodes>``), streaming dbt's output to the log.

    Built with :func:`dbt_task`. It has no ``__init__`` of its own on purpose: every operator
    subclass level repeats Airflow's default-argument merging, which is most of the cost of
    building a DAG of 10,000 tasks.
    """

    ui_color = "#ff9a6c"
    call: DbtCall | None = None
    _process: DbtProcess | None = None

    def execute(self, context: Any) -> None:
        if self.call is None:
            raise SluiceError(f"{self.task_id}: no dbt call; build this operator with dbt_task()")
        self._process = DbtProcess(self.call)
        ti = context["ti"]
        # first tries in a DAG run may be answered from the run's build of the zone; a retry, a
        # cleared task or `airflow tasks test` (a throwaway run) runs its own nodes
        lone = ti.try_number > 1 or str(ti.run_id).startswith("__airflow_temporary_run")
        # the run's start tells apart two runs under one run id (a deleted run made again, a
        # reset metadata database), which must not share a zone build
        started = context["dag_run"].start_date
        zone = self.task_group.group_id if self.task_group else ""
        key = f"{ti.dag_id}/{ti.run_id}/{started.isoformat() if started else ''}/{zone}"
        self._process.run(self.log.info, None if lone else key)

    def on_kill(self) -> None:
        if self._process is not None:
            self._process.kill()


def dbt_task(call: DbtCall, **kwargs: Any) -> DbtNodeOperator:
    """A DbtNodeOperator for ``call``; other keyword arguments go to BaseOperator."""
    op = DbtNodeOperator(**kwargs)
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

    def execute(self, context: Any) -> None:
        if self.call is None:
            raise SluiceError(f"{self.task_id}: no dbt call; build this operator with zone_task()")
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
    **kwargs: Any,
) -> ZoneStepOperator:
    """A ZoneStepOperator; ``call`` gives the project, target and execution to run dbt with;
    ``relations`` the publish task checks in staging before the swap. A publish task needs the
    trigger rule its plan task carries (``all_done_min_one_success``)."""
    op = ZoneStepOperator(**kwargs)
    op.step, op.zone, op.schemas, op.keep, op.call = step, zone_name, schemas, keep, call
    op.relations = relations
    return op
