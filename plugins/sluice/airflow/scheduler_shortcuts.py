"""A shortcut in Airflow 3.3's scheduler for DAGs without setup tasks, as sluice's are.

On every scheduler loop, for every task instance still waiting in a running DAG run, Airflow's
trigger-rule check looks for the task's "relevant setup tasks": it walks every task downstream
and every task upstream of it, then keeps the setup tasks. That walk is O(n) per task, and so
O(n²) per loop. A zone's gateway joins every task of a zone to every task of the next, so each
walk covers most of the DAG. At 500 models (1,032 tasks), it took nine tenths of the scheduler's
time, and the scheduler took a whole core. A DAG with no setup task has no relevant setup task
for any of its tasks. So where the scheduler's deserialized DAG has none, the answer is empty
without the walk. That DAG does not change once deserialized; a new version is a new object.
Setup and teardown DAGs are checked as before.

Installed in the scheduler by sluice's Airflow plugin (plugins/sluice_plugin.py); when Airflow's
code no longer has this shape, nothing is changed and a warning is logged.
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

log = logging.getLogger(__name__)

#: id(dag) -> (the dag, whether any of its tasks is a setup task); the dag is kept to check
#: that an id was not reused, and a few versions of a few DAGs are enough to keep
_setups: OrderedDict[int, tuple[Any, bool]] = OrderedDict()
_MAX_DAGS = 256


def has_setups(dag: Any) -> bool:
    known = _setups.get(id(dag))
    if known is not None and known[0] is dag:
        return known[1]
    found = any(task.is_setup for task in dag.task_dict.values())
    _setups[id(dag)] = (dag, found)
    while len(_setups) > _MAX_DAGS:
        _setups.popitem(last=False)
    return found


def install() -> bool:
    """Install the shortcut on Airflow's deserialized tasks; False when Airflow has another shape."""
    from airflow._shared.dagnode.node import GenericDAGNode

    original = inspect.getattr_static(GenericDAGNode, "get_upstreams_only_setups", None)
    if getattr(original, "sluice_shortcut", False):
        return True
    if not inspect.isfunction(original) or list(inspect.signature(original).parameters) != ["self"]:
        log.warning("sluice: this Airflow's scheduler has another shape; its shortcut is not installed")
        return False

    def get_upstreams_only_setups(self: Any) -> Iterable[Any]:
        dag = self.get_dag()
        if dag is not None and not has_setups(dag):
            return _none()
        return original(self)  # type: ignore[no-any-return]

    get_upstreams_only_setups.sluice_shortcut = True  # type: ignore[attr-defined]
    GenericDAGNode.get_upstreams_only_setups = get_upstreams_only_setups  # type: ignore[method-assign]
    return True


def _none() -> Iterator[Any]:
    return iter(())
