"""What Airflow itself checks when it bags a DAG, asked of Airflow before a spec is drawn.

A spec can be valid to sluice and still be refused by Airflow (a cron Airflow's timetable
cannot parse, ``@continuous`` with more than one active run). These checks build the spec's DAG
with no tasks, from the plan's DAG settings as ``render_dag`` does, and run Airflow's own
validation on it, so ``sluice validate`` and the DAG import refuse exactly what Airflow would.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, Param

from sluice.airflow.alerts import PipelineAlerts
from sluice.errors import SpecError, first_line
from sluice.plan.model import DagSettings, Plan
from sluice.plan.run_options import param_schemas
from sluice.spec.reader import SpecFile
from sluice.spec.yaml_lines import display_path


def minutes(value: float | None) -> timedelta | None:
    return timedelta(minutes=value) if value is not None else None


def _start(dag: DagSettings) -> datetime:
    return datetime.combine(date.fromisoformat(dag.start_date), datetime.min.time(), tzinfo=UTC)


def dag_arguments(sf: SpecFile, plan: Plan) -> dict[str, Any]:
    """The DAG's own arguments (not its tasks), as the plan gives them; the doc names the file."""
    dag = plan.dag
    default_args: dict[str, Any] = {
        "owner": dag.owner,
        "retries": dag.retries,
        "retry_delay": timedelta(minutes=dag.retry_delay_minutes),
        "execution_timeout": minutes(dag.execution_timeout_minutes),
    }
    if dag.pool:
        default_args["pool"] = dag.pool
    callbacks: dict[str, Any] = {}
    if dag.alerts:
        alerts = PipelineAlerts(plan.pipeline, dag.alerts)
        default_args["on_failure_callback"] = alerts.on_failure
        callbacks["on_success_callback"] = alerts.on_success
    doc = f"{dag.description}\n\nBuilt by sluice from `{display_path(sf.path)}` ({sf.environment})."
    doc += "".join(f"\n\n**Warning:** {w}" for w in plan.warnings)
    return {
        "dag_id": plan.pipeline,
        "description": dag.description or None,
        "doc_md": doc,
        "schedule": _schedule(dag),
        "start_date": _start(dag),
        "catchup": dag.catchup,
        "tags": list(dag.tags),
        "max_active_runs": dag.max_active_runs,
        "dagrun_timeout": minutes(dag.dagrun_timeout_minutes),
        "default_args": default_args,
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        # sluice_dags.py hands its DAGs over by name; one drawn in sluice_import_errors.py to find what
        # fails must not register itself there as a second DAG of the same id
        "auto_register": False,
        **callbacks,
    }


def params(plan: Plan) -> dict[str, Param]:
    """The options of a triggered run (sluice.plan.run_options), as Airflow params: the trigger
    dialog's form, checked by Airflow when it creates the run. Given to the DAG once its tasks
    are drawn: Airflow copies a DAG's params into every task it builds, and serializes each copy,
    which for the names of 5,000 models is hundreds of megabytes; a task reads them from its DAG
    at run time all the same."""
    out = {}
    for name, schema in param_schemas(plan.selectable.names).items():
        schema = dict(schema)
        out[name] = Param(schema.pop("default"), description=schema.pop("description"), **schema)
    return out


def _schedule(dag: DagSettings) -> Any:
    """Assets, or a cron schedule whose runs each cover an interval (Airflow 3's default for a
    cron string is a point in time): a daily run is given the day before it, which reaches dbt as
    the ``data_interval_start``/``data_interval_end`` vars (sluice.airflow.operators). Files
    landing on a watched stream start a run as well: any one stream, or the zones of ``after``
    all published, or the cron, whichever comes first."""
    if dag.landing:
        return _with_landing(dag)
    if dag.after:
        return [Asset(uri=uri, name=uri) for uri in dag.after]
    if dag.schedule is None or dag.schedule in ("@once", "@continuous"):
        return dag.schedule
    return CronDataIntervalTimetable(dag.schedule, timezone="UTC")


def _with_landing(dag: DagSettings) -> Any:
    from airflow.sdk import AssetAll, AssetAny, AssetOrTimeSchedule

    from sluice.airflow.landing import landing_asset

    watched: list[Any] = [landing_asset(found) for found in dag.landing]
    if dag.after:
        watched.append(AssetAll(*(Asset(uri=uri, name=uri) for uri in dag.after)))
    assets = AssetAny(*watched)
    if dag.schedule is None:
        return assets
    cron = CronDataIntervalTimetable(dag.schedule, timezone="UTC")  # the spec refuses @once with it
    return AssetOrTimeSchedule(timetable=cron, assets=assets)


def check_with_airflow(sf: SpecFile, plan: Plan) -> None:
    """Raise SpecError, at the spec's key, for what Airflow would refuse of this DAG."""
    dag = plan.dag
    try:
        DAG(
            dag_id=plan.pipeline,
            schedule=dag.schedule,
            start_date=_start(dag),
            max_active_runs=dag.max_active_runs,
        ).validate()  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise sf.error(("schedule",), f"Airflow refuses {dag.schedule!r}: {first_line(exc)}") from None
    try:
        DAG(**dag_arguments(sf, plan), params=params(plan)).validate()  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise sf.error(("pipeline",), f"Airflow refuses this DAG: {first_line(exc)}") from None


def refused(sf: SpecFile, exc: Exception) -> SpecError:
    """A DAG Airflow refused while sluice drew it, said at the spec's ``pipeline:`` line."""
    return sf.error(("pipeline",), f"the DAG could not be built: {type(exc).__name__}: {first_line(exc)}")
