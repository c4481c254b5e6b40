"""Airbyte in one home: connector YAML (config), the public API client, plan/apply/import,
server sync jobs (sync), and the local path (local_sync, local_connector, protocol, duckdb_writer)
that runs a real source connector into DuckDB when no server is configured.

No Airflow import here (the lint rule allows Airflow only under sluice.airflow and sluice.runtime):
the plan layer and `sluice airbyte` read the config without Airflow, and
sluice.airflow.airbyte_operator wraps the sync logic in an operator.
"""
