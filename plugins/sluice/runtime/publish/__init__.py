"""Atomic zone publish: the SQL that stages a zone and swaps it live, one publisher per engine.

An atomic zone's models build into ``<schema>__staging`` (dbt's generate_schema_name calls the
project's ``sluice_schema`` macro, driven by the ``sluice_staging`` var). Its stage task empties
the staging copy and seeds it with the live incremental models and snapshots, which must keep
their history; its publish task swaps staging and live in one step. How each engine does that is
its publisher's business (see each module):

- ``snowflake.py``: ``ALTER SCHEMA ... SWAP WITH ...`` per schema, then the old version is
  dropped; a failure half-way swaps back what was swapped;
- ``postgres.py``: both renames per schema inside one transaction;
- ``redshift.py``: the same renames in one transaction; kept tables are staged with
  ``CREATE TABLE ... (LIKE ...)`` so they keep their distribution and sort keys;
- ``duckdb.py`` (no schema rename): one transaction that replaces every live relation with its
  staged copy and drops the staging schema.

The statements are built here, in plain Python, and run by the project's ``sluice_run_sql``
macro on dbt's own connection (sluice.runtime.zone), so no credentials are handled outside dbt.
Every name in them is a quoted identifier, so no schema, table or role name can end a statement
or change its meaning; DuckDB and PostgreSQL names are quoted exactly as dbt quotes them.

The modules:

- ``base.py``: ``Engine`` (the dbt adapter types), ``Publisher`` (the interface: quoting of
  names, stage statements, publish statements, and ``publish``, the hook that runs them), the
  ``Session`` a publisher runs statements through, ``PublishError``;
- ``warehouse.py``: ``Warehouse``, what the ``sluice_describe`` macro answered, parsed;
- ``statements.py``: ``stage_sql`` and ``publish_sql``, the checks every engine shares (names,
  nothing staged, staging that is not this run's) before the engine's own SQL;
- ``registry.py``: the publisher of each engine, keyed by the dbt adapter type.

Adding an engine (say BigQuery; ``redshift.py`` is the most recent example):

1. a member of ``Engine`` in ``base.py`` named as dbt names the adapter (``BIGQUERY =
   "bigquery"``);
2. ``bigquery.py`` with a ``Publisher`` subclass: ``engine``, ``publish_sql``, and overrides of
   ``name``/``qualify`` (how the engine stores and qualifies names), ``stage_sql`` (a cheaper
   copy than drop, create and copy the kept tables), ``publish`` (statements that cannot all
   run in one transaction: undo a half-done publish, carry grants over) or ``clock`` (the SQL
   of the current time the zone lease writes) where it differs;
3. its line in ``PUBLISHERS`` in ``registry.py``;
4. the ``sluice_describe``, ``sluice_run_sql`` and ``sluice_query`` macros in
   ``dbt/macros/sluice`` answering for the adapter, if dbt's cross-database macros do not;
5. tests: the exact SQL for a live and a first publish (tests/unit/test_atomic_publish.py), the
   same statements on hostile names read back by sqlglot's tokenizer for the dialect
   (tests/unit/test_publish_names.py), and a real run where the engine can run here; where it
   cannot (Snowflake, Redshift), the statements parsed by sqlfluff's dialect for the engine
   (tests/infra/test_warehouse_sql.py).
"""

from sluice.runtime.publish.base import Engine, Publisher, PublishError, Relation, Session, staging_name
from sluice.runtime.publish.registry import PUBLISHERS, publisher_for
from sluice.runtime.publish.statements import publish_sql, relation_listing, stage_sql, unstaged
from sluice.runtime.publish.warehouse import Warehouse, result_of

__all__ = [
    "PUBLISHERS",
    "Engine",
    "PublishError",
    "Publisher",
    "Relation",
    "Session",
    "Warehouse",
    "publish_sql",
    "publisher_for",
    "relation_listing",
    "result_of",
    "stage_sql",
    "staging_name",
    "unstaged",
]
