"""The scheduler's dependency checks with sluice's shortcuts installed: the same answers as
Airflow's own, without scanning the DAG or the run where the answer cannot depend on the scan
(relevant setup tasks, "not previously skipped", and trigger rules while an upstream task runs)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from airflow._shared.dagnode.node import GenericDAGNode
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import BranchPythonOperator
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import DagSerialization
from airflow.ti_deps.dep_context import DepContext
from airflow.ti_deps.deps.not_previously_skipped_dep import NotPreviouslySkippedDep
from airflow.ti_deps.deps.trigger_rule_dep import TriggerRuleDep
from airflow.utils.state import TaskInstanceState

from sluice.airflow import scheduler_shortcuts
from sluice.airflow.dag_files import load_dags
from tests.conftest import REPO

pytestmark = pytest.mark.unit


def scheduler_copy(dag: DAG) -> Any:
    """The DAG as the scheduler holds it: deserialized from its stored form."""
    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Airflow's answer before the shortcut, and a count of its walks through the DAG."""
    monkeypatch.setattr(
        GenericDAGNode, "get_upstreams_only_setups", vars(GenericDAGNode)["get_upstreams_only_setups"]
    )
    monkeypatch.setattr(scheduler_shortcuts, "_plain", type(scheduler_shortcuts._plain)())
    for dep in (TriggerRuleDep, NotPreviouslySkippedDep):
        monkeypatch.setattr(dep, "_get_dep_statuses", vars(dep)["_get_dep_statuses"])
    walked: list[str] = []
    real = GenericDAGNode.get_flat_relative_ids

    def counting(self: Any, upstream: bool = False, depth: int | None = None) -> set[str]:
        walked.append(self.task_id)
        return real(self, upstream=upstream, depth=depth)

    monkeypatch.setattr(GenericDAGNode, "get_flat_relative_ids", counting)
    yield walked


def answers(dag: Any) -> dict[str, list[str]]:
    return {t.task_id: sorted(s.task_id for s in t.get_upstreams_only_setups()) for t in dag.tasks}


def test_a_dag_without_setup_tasks_answers_without_walking_it(walks: list[str]) -> None:
    dag = scheduler_copy(load_dags(REPO / "dags" / "pipelines")["payments_daily"])
    before = answers(dag)
    assert walks, "Airflow walks the DAG for every task"
    walks.clear()
    assert scheduler_shortcuts.install()
    assert answers(dag) == before == {t.task_id: [] for t in dag.tasks}
    assert walks == []


def test_a_dag_with_setup_tasks_gets_airflows_own_answer(walks: list[str]) -> None:
    with DAG("with_setup", schedule=None, start_date=datetime(2026, 1, 1)) as authored:
        create = EmptyOperator(task_id="create_cluster").as_setup()
        work = EmptyOperator(task_id="work")
        delete = EmptyOperator(task_id="delete_cluster").as_teardown(setups=create)
        create >> work >> delete
    dag = scheduler_copy(authored)
    before = answers(dag)
    assert before["work"] == ["create_cluster"]
    assert scheduler_shortcuts.install()
    assert answers(dag) == before


def test_installing_twice_wraps_once(walks: list[str]) -> None:
    assert scheduler_shortcuts.install()
    first = GenericDAGNode.get_upstreams_only_setups
    assert scheduler_shortcuts.install()
    assert GenericDAGNode.get_upstreams_only_setups is first


def demo() -> Any:
    return scheduler_copy(load_dags(REPO / "dags" / "pipelines")["payments_daily"])


def a_run(
    dag: Any, finished: set[str], state: TaskInstanceState
) -> tuple[dict[str, TaskInstance], DepContext]:
    """Task instances of one run of ``dag``, ``finished`` in ``state``, and the scheduler's
    dependency context of one pass over it."""
    run = DagRun(dag_id=dag.dag_id, run_id="r", run_type="manual")
    tis = {}
    for task in dag.tasks:
        ti = tis[task.task_id] = TaskInstance(task, run_id="r", dag_version_id=uuid.uuid4())
        ti.dag_run = run
        ti.state = state if task.task_id in finished else None
    done = [ti for ti in tis.values() if ti.state is not None]
    return tis, DepContext(flag_upstream_failed=True, finished_tis=done)


def verdicts(
    dep: Any, tis: dict[str, TaskInstance], context: DepContext
) -> dict[str, list[tuple[bool, str]]]:
    waiting = {k: ti for k, ti in tis.items() if ti.state is None}
    return {
        k: [(s.passed, s.reason) for s in dep.get_dep_statuses(ti, context, session=None)]
        for k, ti in waiting.items()
    }


def passed(found: dict[str, list[Any]]) -> dict[str, bool]:
    return {k: all(ok for ok, _ in statuses) for k, statuses in found.items()}


@pytest.mark.parametrize("seed", range(6))
def test_trigger_rules_give_airflows_answers_without_scanning_the_run(
    walks: list[str], monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    dag = demo()
    ids = sorted(dag.task_dict)
    finished = set(random.Random(seed).sample(ids, k=random.Random(seed).randint(0, len(ids))))
    before = passed(verdicts(TriggerRuleDep(), *a_run(dag, finished, TaskInstanceState.SUCCESS)))
    scans: list[str] = []
    real = TriggerRuleDep._evaluate_trigger_rule

    def counting(self: Any, *, ti: Any, dep_context: Any, session: Any) -> Any:
        scans.append(ti.task_id)
        return real(self, ti=ti, dep_context=dep_context, session=session)

    monkeypatch.setattr(TriggerRuleDep, "_evaluate_trigger_rule", counting)
    assert scheduler_shortcuts.install()
    assert passed(verdicts(TriggerRuleDep(), *a_run(dag, finished, TaskInstanceState.SUCCESS))) == before
    # Airflow's own check only where an upstream task could change the answer: all of them have
    # finished, or the rule is not one the shortcut knows
    rules = ("all_success", "none_failed", "none_failed_min_one_success")
    upstream = {k: dag.task_dict[k].upstream_task_ids for k in before}
    rule = {k: str(dag.task_dict[k].trigger_rule) for k in before}
    assert set(scans) == {
        k for k in before if upstream[k] and (upstream[k] <= finished or rule[k] not in rules)
    }


def test_a_failed_upstream_task_is_airflows_to_judge(
    walks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dag = demo()
    task = next(t for t in dag.tasks if len(t.upstream_task_ids) > 1)
    failed = sorted(task.upstream_task_ids)[:1]
    tis, context = a_run(dag, set(failed), TaskInstanceState.FAILED)
    judged: list[str] = []
    monkeypatch.setattr(
        TriggerRuleDep,
        "_evaluate_trigger_rule",
        lambda self, *, ti, **kw: judged.append(ti.task_id) or iter(()),
    )
    assert scheduler_shortcuts.install()
    list(TriggerRuleDep().get_dep_statuses(tis[task.task_id], context, session=None))
    assert judged == [task.task_id]


def test_not_previously_skipped_is_checked_only_below_a_branching_task(walks: list[str]) -> None:
    with DAG("branching", schedule=None, start_date=datetime(2026, 1, 1)) as authored:
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "left")
        branch >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]
        EmptyOperator(task_id="alone") >> EmptyOperator(task_id="after_alone")
    dag = scheduler_copy(authored)
    tis, context = a_run(dag, {"branch", "alone"}, TaskInstanceState.SUCCESS)
    asked: list[str] = []
    original = NotPreviouslySkippedDep._get_dep_statuses

    def spying(self: Any, ti: Any, dep_context: Any, *, session: Any) -> Iterator[Any]:
        asked.append(ti.task_id)
        return original(self, ti, dep_context, session=session)

    NotPreviouslySkippedDep._get_dep_statuses = spying  # type: ignore[method-assign]
    assert scheduler_shortcuts.install()
    after_alone = list(NotPreviouslySkippedDep().get_dep_statuses(tis["after_alone"], context, session=None))
    assert after_alone == [] and asked == []
    with pytest.raises(Exception):  # noqa: B017 - Airflow's own check reads the branch's XCom
        list(NotPreviouslySkippedDep().get_dep_statuses(tis["left"], context, session=None))
    assert asked == ["left"]
