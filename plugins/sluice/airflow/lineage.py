"""sluice's operators as Airflow's OpenLineage provider asks them: each returns its inputs and
outputs (``get_openlineage_facets_on_start/complete/failure``) and the provider's listener sends
START, COMPLETE and FAIL through the transport airflow.cfg's ``[openlineage]`` section names.

Nothing here runs unless the provider is configured: the provider calls these methods only then,
and a DAG import never reads the manifest for lineage. A lineage question sluice cannot answer
(a manifest gone since the plan) is logged and answered with no datasets: lineage never fails a
task.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sluice.errors import SluiceError

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors.base import OperatorLineage

    from sluice.lineage.datasets import Datasets
    from sluice.lineage.nodes import LineageNodes
    from sluice.runtime.dbt import DbtCall

log = logging.getLogger(__name__)


def _lineage(datasets: Datasets | None) -> OperatorLineage[Any, Any]:
    from airflow.providers.openlineage.extractors.base import OperatorLineage

    inputs, outputs = datasets or ([], [])
    return OperatorLineage(inputs=inputs, outputs=outputs)


def _manifest(call: DbtCall) -> Path:
    return Path(call.manifest or call.project_dir / "target" / "manifest.json")


def _namespace(call: DbtCall) -> str:
    from sluice.lineage.naming import target_namespace
    from sluice.runtime.dbt import dbt_target

    return target_namespace(call.project_dir, call.profiles_dir, dbt_target(call.target))


def _where(call: DbtCall | None) -> tuple[LineageNodes, str] | None:
    """The call's manifest, read for lineage, and its target's namespace."""
    from sluice.lineage.nodes import lineage_nodes

    if call is None:
        return None
    try:
        nodes = lineage_nodes(_manifest(call))
    except SluiceError as exc:
        log.warning("no lineage for %s: %s", call.describe(), exc)
        return None
    return nodes, _namespace(call)


def dbt_lineage(call: DbtCall | None, passed: Mapping[str, bool] | None = None) -> OperatorLineage[Any, Any]:
    """A dbt task's datasets; ``passed`` (selector -> passed) once it ended."""
    from sluice.lineage.datasets import dbt_task_datasets

    where = _where(call)
    if call is None or where is None:
        return _lineage(None)
    return _lineage(dbt_task_datasets(*where, call.select, passed))


def outcome(
    selectors: Iterable[str], passed: bool, known: Mapping[str, bool] | None = None
) -> dict[str, bool]:
    """Each selector's outcome: as ``known`` says, else as the whole task ended."""
    return {s: (known or {}).get(s, passed) for s in selectors}


def publish_lineage(
    call: DbtCall | None, relations: Sequence[str], version: str
) -> OperatorLineage[Any, Any]:
    """An atomic zone's publish: its relations as new versions (``version``: the DAG run)."""
    from sluice.lineage.datasets import published_datasets

    where = _where(call)
    return _lineage(published_datasets(*where, relations, version) if where else None)


def sync_lineage(
    call: DbtCall | None, schema: str | None, rows: Mapping[str, int | None]
) -> OperatorLineage[Any, Any]:
    """A sync's raw tables, named as the dbt sources that read them where the manifest has one
    (``schema.stream``), so the graph runs on from the sync into the models."""
    from sluice.lineage.datasets import loaded_datasets

    where = _where(call)
    if where is None or not schema:
        return _lineage(None)
    nodes, namespace = where
    sources = {r.schema_table: r.name for uid, r in nodes.relations.items() if uid.startswith("source.")}
    tables = {sources.get(f"{schema}.{s}".lower(), f"{schema}.{s}"): n for s, n in rows.items()}
    return _lineage(loaded_datasets(namespace, tables))


def _enabled() -> bool:
    try:
        from airflow.providers.openlineage import conf
    except ImportError:  # the provider is not installed: no lineage
        return False
    return not conf.is_disabled()


def build_context(call: DbtCall, context: Any) -> dict[str, Any] | None:
    """What a zone build publishes (in its results' head) for the triggerer to send the lineage
    of each task it ends there: the manifest, the namespace and the DAG run's times. None when
    OpenLineage is not configured."""
    if not _enabled():
        return None
    run = context["dag_run"]
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return {
        "manifest": str(_manifest(call)),
        "namespace": _namespace(call),
        # the provider names a task's run from the DAG run's logical date, or its run_after
        "logical_date": (run.logical_date or run.run_after).isoformat(),
        "clear_number": int(getattr(run, "clear_number", 0) or 0),
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
    }


def emit_ended(head: Mapping[str, Any], ti: Any, results: Mapping[str, Mapping[str, Any]]) -> None:
    """Send START and COMPLETE (or FAIL) of a task the triggerer ended from its zone build's
    ``results`` (selector -> result): Airflow calls no listener for a task ended there. Runs in a
    thread of the triggerer; whatever goes wrong is logged, never raised."""
    try:
        _emit_ended(head, ti, results)
    except Exception as exc:
        log.warning("OpenLineage events of %s not sent: %s", getattr(ti, "task_id", "?"), exc)


def _emit_ended(head: Mapping[str, Any], ti: Any, results: Mapping[str, Mapping[str, Any]]) -> None:
    from datetime import UTC, datetime, timedelta

    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener
    from airflow.providers.openlineage.utils.utils import get_task_parent_run_facet

    from sluice.lineage.datasets import dbt_task_datasets
    from sluice.lineage.nodes import lineage_nodes
    from sluice.runtime.node_results import PASSED, verdict

    if not _enabled():
        return
    selectors = list(results)
    nodes, namespace = lineage_nodes(Path(str(head["manifest"]))), str(head["namespace"])
    logical = datetime.fromisoformat(str(head["logical_date"]))
    dag_id, task_id = ti.dag_id, ti.task_id
    run_id = OpenLineageAdapter.build_task_instance_run_id(
        dag_id, task_id, ti.try_number, logical, getattr(ti, "map_index", -1)
    )
    parent = OpenLineageAdapter.build_dag_run_id(dag_id, logical, int(head.get("clear_number") or 0))
    common: dict[str, Any] = {
        "run_id": run_id,
        "job_name": f"{dag_id}.{task_id}",
        "nominal_start_time": head.get("start"),
        "nominal_end_time": head.get("end"),
        "owners": None,
        "tags": None,
        "job_description": None,
        "run_facets": get_task_parent_run_facet(parent_run_id=parent, parent_job_name=dag_id),
    }
    ended = datetime.now(UTC)
    seconds = sum(float(r.get("seconds") or 0) for r in results.values())
    adapter = get_openlineage_listener().adapter
    started = _lineage(dbt_task_datasets(nodes, namespace, selectors))
    adapter.start_task(event_time=(ended - timedelta(seconds=seconds)).isoformat(), task=started, **common)
    passed = {s: r.get("status") in PASSED for s, r in results.items()}
    done = _lineage(dbt_task_datasets(nodes, namespace, selectors, passed))
    result = verdict(results)
    if result.passed:
        adapter.complete_task(end_time=ended.isoformat(), task=done, **common)
    else:
        adapter.fail_task(end_time=ended.isoformat(), task=done, error=result.error, **common)
