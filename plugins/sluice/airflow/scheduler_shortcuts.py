"""Shortcuts in Airflow 3.3's scheduler for DAGs without setup or mapped tasks, as sluice's are.

On every scheduler loop, Airflow checks the dependencies of every task instance still waiting in
a running DAG run, and three of its checks scan the DAG or the run's finished task instances for
each of them: O(n) per task, so O(n²) per loop. At 1,000 models (2,000 waiting tasks) the
scheduler took a whole core. Each shortcut gives Airflow's own answer without the scan, and only
where that answer cannot depend on what the scan would find:

1. Relevant setup tasks: Airflow walks every task downstream and upstream of the task, then keeps
   the setup tasks. A DAG with no setup task has none for any of its tasks (at 500 models this
   walk was nine tenths of the scheduler's time).
2. "Not previously skipped": Airflow makes a set of every finished task's id, then looks only at
   upstream tasks that can skip others (branching operators). A task with no such upstream task
   passes without the set.
3. Trigger rules all_success, none_failed and none_failed_min_one_success: Airflow counts the
   states of the task's upstream tasks by scanning every finished task instance. While one of
   them has not finished and every finished one succeeded (or, under none_failed*, was skipped),
   the rule is not met and the task's state does not change, whatever the counts; the shortcut
   says so from one table of finished states per scheduling pass. Any other case (a failed or
   skipped upstream that changes the task's state, every upstream done) is Airflow's own check.

A DAG that does not change once deserialized; a new version is a new object. Installed in the
scheduler by sluice's Airflow plugin (plugins/sluice_plugin.py); when Airflow's code no longer
has this shape, nothing is changed and a warning is logged.
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

log = logging.getLogger(__name__)

#: id(dag) -> (the dag, whether it has no setup, teardown or mapped task); the dag is kept to
#: check that an id was not reused, and a few versions of a few DAGs are enough to keep
_plain: OrderedDict[int, tuple[Any, bool]] = OrderedDict()
_MAX_DAGS = 256
#: the finished task instances of the scheduling pass last asked about, and their states by task
_finished: tuple[list[Any], int, dict[str, Any]] | None = None


def is_plain(dag: Any) -> bool:
    """True when ``dag`` has no setup, teardown or mapped task."""
    from airflow.serialization.definitions.mappedoperator import is_mapped

    known = _plain.get(id(dag))
    if known is not None and known[0] is dag:
        return known[1]
    plain = not any(t.is_setup or t.is_teardown or is_mapped(t) for t in dag.task_dict.values())
    _plain[id(dag)] = (dag, plain)
    while len(_plain) > _MAX_DAGS:
        _plain.popitem(last=False)
    return plain


def finished_states(finished_tis: list[Any]) -> dict[str, Any]:
    """task id -> state of a pass's finished task instances, made once per pass (the list is the
    pass's own; one that grew since is read again)."""
    global _finished
    if _finished is None or _finished[0] is not finished_tis or _finished[1] != len(finished_tis):
        _finished = (finished_tis, len(finished_tis), {t.task_id: t.state for t in finished_tis})
    return _finished[2]


def install() -> bool:
    """Install the three shortcuts; False when Airflow's code has another shape for any of them
    (the others are installed all the same)."""
    from airflow._shared.dagnode.node import GenericDAGNode
    from airflow.ti_deps.deps.not_previously_skipped_dep import NotPreviouslySkippedDep
    from airflow.ti_deps.deps.trigger_rule_dep import TriggerRuleDep

    return all(
        [
            _wrap(GenericDAGNode, "get_upstreams_only_setups", ["self"], _no_setups),
            _wrap(NotPreviouslySkippedDep, "_get_dep_statuses", _DEP_PARAMETERS, _no_skipping_upstream),
            _wrap(TriggerRuleDep, "_get_dep_statuses", _DEP_PARAMETERS, _upstream_unfinished),
        ]
    )


_DEP_PARAMETERS = ["self", "ti", "dep_context", "session"]


def _wrap(owner: type, name: str, parameters: list[str], shortcut: Callable[[Any], Any]) -> bool:
    original = inspect.getattr_static(owner, name, None)
    if getattr(original, "sluice_shortcut", False):
        return True
    if not inspect.isfunction(original) or list(inspect.signature(original).parameters) != parameters:
        log.warning(
            "sluice: Airflow's %s.%s has another shape; its shortcut is not installed", owner.__name__, name
        )
        return False
    wrapped = shortcut(original)
    wrapped.sluice_shortcut = True
    setattr(owner, name, wrapped)
    return True


def _no_setups(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_upstreams_only_setups(self: Any) -> Iterable[Any]:
        dag = self.get_dag()
        if dag is not None and is_plain(dag):
            return iter(())
        return original(self)  # type: ignore[no-any-return]

    return get_upstreams_only_setups


def _no_skipping_upstream(original: Callable[..., Any]) -> Callable[..., Any]:
    def _get_dep_statuses(self: Any, ti: Any, dep_context: Any, *, session: Any) -> Iterator[Any]:
        task = ti.task
        if task is not None and not any(
            p.inherits_from_skipmixin for p in task.get_direct_relatives(upstream=True)
        ):
            return
        yield from original(self, ti, dep_context, session=session)

    return _get_dep_statuses


def _upstream_unfinished(original: Callable[..., Any]) -> Callable[..., Any]:
    from airflow.utils.state import TaskInstanceState as State

    # per trigger rule, the finished states of upstream tasks that leave a waiting task as it is
    waits = {
        "all_success": frozenset({State.SUCCESS}),
        "none_failed": frozenset({State.SUCCESS, State.SKIPPED}),
        "none_failed_min_one_success": frozenset({State.SUCCESS, State.SKIPPED}),
    }

    def _get_dep_statuses(self: Any, ti: Any, dep_context: Any, *, session: Any) -> Iterator[Any]:
        task, finished = ti.task, dep_context.finished_tis
        rule = getattr(task, "trigger_rule", None)
        rule = getattr(rule, "value", rule)  # a str in a deserialized DAG, an enum in an authored one
        upstream = task.upstream_task_ids if task is not None else ()
        dag = getattr(task, "dag", None)
        if rule in waits and finished is not None and upstream and ti.map_index < 0 and dag and is_plain(dag):
            states = finished_states(finished)
            waiting = sum(1 for u in upstream if u not in states)
            if waiting and all(states[u] in waits[rule] for u in upstream if u in states):
                yield self._failing_status(
                    reason=f"Task's trigger rule '{rule}' needs its upstream tasks finished: "
                    f"{waiting} of {len(upstream)} are not yet."
                )
                return
        yield from original(self, ti, dep_context, session=session)

    return _get_dep_statuses
