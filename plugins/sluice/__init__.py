"""sluice: YAML pipeline specs in, Airflow DAGs that build a dbt project zone by zone out."""

__version__ = "0.1.0"
