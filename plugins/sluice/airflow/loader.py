"""What the DAG files in dags/ call: build every good spec, report every bad one."""

from __future__ import annotations

import logging
from pathlib import Path

from airflow.sdk import DAG

from sluice.errors import SluiceError, SpecErrors
from sluice.plan.compiled import load_plan
from sluice.plan.model import Plan
from sluice.spec.loader import SpecFile, load_spec, spec_paths
from sluice.spec.paths import dbt_paths

log = logging.getLogger(__name__)


class SpecImportError(SluiceError):
    """Raised by dags/sluice_errors.py so Airflow shows broken specs as an import error."""


def _plan_all(specs_dir: Path) -> tuple[list[tuple[SpecFile, Plan]], list[str]]:
    built: list[tuple[SpecFile, Plan]] = []
    problems: list[str] = []
    owners: dict[str, Path] = {}
    for path in spec_paths([specs_dir]):
        try:
            sf = load_spec(path)
            plan = load_plan(sf)
        except SpecErrors as exc:
            problems.extend(str(e) for e in exc.errors)
            continue
        except SluiceError as exc:
            problems.append(str(exc))
            continue
        if sf.spec.pipeline in owners:
            problems.append(
                f"{path}:1: pipeline: '{sf.spec.pipeline}' is already the id of {owners[sf.spec.pipeline]}"
            )
            continue
        owners[sf.spec.pipeline] = path
        built.append((sf, plan))
    return built, problems


def load_dags(specs_dir: Path) -> dict[str, DAG]:
    """One DAG per valid spec; a broken spec is skipped here and reported by sluice_errors.py."""
    built, problems = _plan_all(specs_dir)
    for problem in problems:
        log.warning("sluice: spec skipped: %s", problem)
    return {sf.spec.pipeline: _render(sf, plan) for sf, plan in built}


def _render(sf: SpecFile, plan: Plan) -> DAG:
    from sluice.airflow.render import render_dag

    return render_dag(sf, plan, dbt_paths(sf))


def raise_spec_errors(specs_dir: Path) -> None:
    """Raise one import error listing every broken spec, one line each; silent when all are good.

    Airflow drops every DAG of a file that raises, so the DAGs are built by sluice_dags.py and
    the errors are raised from this second file, which holds no DAG to lose.
    """
    _, problems = _plan_all(specs_dir)
    if problems:
        raise SpecImportError("broken sluice spec(s):\n" + "\n".join(problems))
