"""What the DAG files in dags/ call: build every good spec, report every bad one."""

from __future__ import annotations

import logging
from pathlib import Path

from airflow.sdk import DAG

from sluice.errors import SluiceError
from sluice.plan.folder import plan_folder
from sluice.plan.model import Plan
from sluice.spec.loader import SpecFile
from sluice.spec.paths import dbt_paths

log = logging.getLogger(__name__)


class SpecImportError(SluiceError):
    """Raised by dags/sluice_errors.py so Airflow shows broken specs as an import error."""


def load_dags(specs_dir: Path) -> dict[str, DAG]:
    """One DAG per valid spec; a broken spec is skipped here and reported by sluice_errors.py."""
    result = plan_folder([specs_dir])
    for problem in result.problems:
        log.warning("sluice: spec skipped: %s", problem)
    return {sf.spec.pipeline: _render(sf, plan) for sf, plan in result.plans}


def _render(sf: SpecFile, plan: Plan) -> DAG:
    from sluice.airflow.render import render_dag

    return render_dag(sf, plan, dbt_paths(sf))


def raise_spec_errors(specs_dir: Path) -> None:
    """Raise one import error listing every broken spec, one line each; silent when all are good.

    Airflow drops every DAG of a file that raises, so the DAGs are built by sluice_dags.py and
    the errors are raised from this second file, which holds no DAG to lose.
    """
    problems = plan_folder([specs_dir]).problems
    if problems:
        raise SpecImportError("broken sluice spec(s):\n" + "\n".join(problems))
