"""Airflow import errors for broken sluice pipeline specs (this file defines no DAG).

Airflow drops every DAG of a file that raises; raising here, not in sluice_dags.py, keeps the
good pipelines loaded while each bad spec is named, with file and line, in the import errors.
"""

from pathlib import Path

from sluice.airflow.dag_files import raise_spec_errors

raise_spec_errors(Path(__file__).parent / "pipelines")
