"""What runs inside Airflow tasks: dbt invocation (later: Airbyte syncs, zone publish)."""
