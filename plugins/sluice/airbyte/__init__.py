"""Airbyte as code: connector YAML, the public API client, plan/apply/import, and sync jobs.

No Airflow import here; sluice.airflow.airbyte wraps the sync logic in an operator.
"""
