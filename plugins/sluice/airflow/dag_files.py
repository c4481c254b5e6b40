"""What the DAG files in dags/ call: build every good spec, report every bad one.

Airflow drops every DAG of a file that raises, so the DAGs are built by sluice_dags.py and the
errors raised by sluice_import_errors.py, which holds no DAG to lose. The two files are parsed in
separate processes: a spec that fails while its DAG is drawn (past every check) leaves a verdict
file beside its compiled plan, and sluice_import_errors.py reports it from there; with no verdict for
the spec's current version it draws the DAG itself, once.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from sluice.airflow.checks import check_with_airflow, refused
from sluice.errors import SluiceError
from sluice.gc_pause import gc_paused
from sluice.plan.compiled import plan_path, version_key, write_json
from sluice.plan.folder import plan_folder
from sluice.plan.model import Plan
from sluice.spec.paths import dbt_paths
from sluice.spec.reader import SpecFile

log = logging.getLogger(__name__)


class SpecImportError(SluiceError):
    """Raised by dags/sluice_import_errors.py so Airflow shows broken specs as an import error."""


def load_dags(specs_dir: Path) -> dict[str, DAG]:
    """One DAG per valid spec; a broken spec is skipped here and reported by sluice_import_errors.py."""
    with gc_paused():
        result = plan_folder([specs_dir], check=check_with_airflow)
        for problem in result.problems:
            log.warning("sluice: spec skipped: %s", problem)
        dags: dict[str, DAG] = {}
        for sf, plan in result.plans:
            dag, error = _draw(sf, plan)
            if dag is not None:
                dags[sf.spec.pipeline] = dag
            else:
                log.warning("sluice: spec skipped: %s", error)
    return dags


def raise_spec_errors(specs_dir: Path) -> None:
    """Raise one import error listing every broken spec, one line each; silent when all are good."""
    with gc_paused():
        result = plan_folder([specs_dir], check=check_with_airflow)
        problems = list(result.problems)
        for sf, plan in result.plans:
            known, error = _read_verdict(sf)
            if not known:
                error = _draw(sf, plan)[1]
            if error:
                problems.append(error)
    if problems:
        # the first line is a problem itself: Airflow shows an import error's first line in lists
        raise SpecImportError("\n".join(problems))


def _draw(sf: SpecFile, plan: Plan) -> tuple[DAG | None, str | None]:
    """The spec's DAG, checked as Airflow's DagBag will check it, or the one line why not."""
    from sluice.airflow.render import render_dag

    try:
        dag = render_dag(sf, plan, dbt_paths(sf))
        # what the DagBag checks of a DAG besides its cycles, which the plan's run order rules out
        # (and checking twice would cost 0.2 s of a 10,000-task import)
        dag.validate()  # type: ignore[no-untyped-call]
    except Exception as exc:  # whatever it is, it is this spec's alone
        error: str | None = str(refused(sf, exc))
        dag = None
    else:
        error = None
    _write_verdict(sf, error)
    return dag, error


def _verdict_path(sf: SpecFile) -> Path:
    return plan_path(sf).with_name(f"{sf.path.stem}.{sf.environment}.verdict.json")


def _stored_verdict(sf: SpecFile) -> Any:
    """The verdict file's content, or None when it is missing or corrupt (it is then rewritten)."""
    try:
        return json.loads(_verdict_path(sf).read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def _read_verdict(sf: SpecFile) -> tuple[bool, str | None]:
    """(known, error) of the spec's current version, as the last draw of its DAG left it."""
    doc = _stored_verdict(sf)
    if (
        isinstance(doc, dict)
        and doc.get("key") == version_key(sf)
        and isinstance(doc.get("error"), str | None)
    ):
        return True, doc.get("error")
    return False, None


def _write_verdict(sf: SpecFile, error: str | None) -> None:
    doc = {"key": version_key(sf), "error": error}
    if _stored_verdict(sf) != doc:  # no write every 30 seconds
        with contextlib.suppress(OSError):  # a read-only deployment draws in both files
            write_json(_verdict_path(sf), doc)
