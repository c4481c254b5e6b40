"""OpenLineage datasets of a pipeline's tasks, named as OpenLineage's naming spec says, from the
dbt manifest and the dbt target (no Airflow here: sluice.airflow.lineage hands them to Airflow's
OpenLineage provider, which sends them through the transport airflow.cfg configures).

- ``naming.py``: the namespace of a dbt target (``duckdb://<file>``, ``postgres://host:port``,
  ``snowflake://<account>``) and the ``database.schema.table`` name of a relation;
- ``nodes.py``: the manifest's relations, columns and tests, read once per manifest version;
- ``datasets.py``: a task's inputs and outputs, with their facets.
"""
