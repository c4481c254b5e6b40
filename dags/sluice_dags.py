"""Airflow DAG loader: one DAG per sluice pipeline spec in dags/pipelines/.

A broken spec is left out here and shown as an import error by sluice_import_errors.py.
"""

from pathlib import Path

from sluice.airflow.dag_files import load_dags

globals().update(load_dags(Path(__file__).parent / "pipelines"))
