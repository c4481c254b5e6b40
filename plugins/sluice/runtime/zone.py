"""Run an atomic zone's stage and publish steps through dbt (run-operation on the project's
sluice macros), so they use the same target, credentials and DuckDB lock as the zone's models.
Both hold the zone's lease (see sluice.runtime.lease): one DAG run at a time stages, builds and
publishes a zone."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sluice.errors import first_line
from sluice.runtime import lease
from sluice.runtime.dbt import DbtCall, DbtProcess
from sluice.runtime.lease import Holder
from sluice.runtime.publish import (
    PublishError,
    Relation,
    Warehouse,
    publish_sql,
    relation_listing,
    result_of,
    stage_sql,
    staging_name,
)

Log = Callable[[str], None]


@contextlib.contextmanager
def _details(log: Log) -> Iterator[Log]:
    """A sink for the steps' machinery (dbt commands, SQL, dbt's banner, macro answers): kept out
    of the task log, which reads as sentences, unless the step fails; then they follow it."""
    kept: list[str] = []
    try:
        yield kept.append
    except BaseException:
        log("what the step ran, up to the failure:")
        for line in kept:
            log(f"  {line}")
        raise


def _operation(base: DbtCall, macro: str, args: dict[str, Any], log: Log) -> dict[str, Any]:
    call = dataclasses.replace(
        base, command="run-operation", select=(), vars=None, args=(macro, "--args", json.dumps(args))
    )
    return result_of(DbtProcess(call).run(log))


def describe(base: DbtCall, schemas: Sequence[str], log: Log) -> Warehouse:
    return Warehouse.from_result(_operation(base, "sluice_describe", {"schemas": list(schemas)}, log))


def run_sql(base: DbtCall, statements: Sequence[str], log: Log, detail: Log | None = None) -> None:
    """Run statements that change the warehouse, each said in ``log``; dbt's own lines go to
    ``detail`` (default: ``log``)."""
    for sql in statements:
        log(f"sql: {sql}")
    _operation(base, "sluice_run_sql", {"statements": list(statements)}, detail or log)


def _query(base: DbtCall, log: Log) -> lease.Query:
    def query(statements: Sequence[str], sql: str) -> list[list[str | None]]:
        for statement in statements:
            log(f"sql: {statement}")
        rows: list[list[str | None]] = _operation(
            base, "sluice_query", {"statements": list(statements), "query": sql}, log
        )["rows"]
        return rows

    return query


@dataclasses.dataclass(frozen=True)
class _DbtSession:
    """A publisher's way to the warehouse: the project's sluice macros, run by dbt."""

    base: DbtCall
    log: Log
    detail: Log

    def run(self, statements: Sequence[str]) -> None:
        run_sql(self.base, statements, self.log, self.detail)

    def call(self, macro: str, args: dict[str, Any]) -> dict[str, Any]:
        return _operation(self.base, macro, args, self.detail)


def _lease_table(wh: Warehouse) -> bool:
    return any(r.name.lower() == "zone_leases" for r in wh.rels(lease.SCHEMA))


def stage(
    base: DbtCall, zone: str, schemas: Sequence[str], keep: Sequence[str], holder: Holder, log: Log
) -> None:
    """Take the zone's lease, then start a fresh staging copy of the zone (live incremental
    models and snapshots copied in)."""
    with _details(log) as detail:
        first = describe(base, [*schemas, lease.SCHEMA], detail)
        clock = first.publisher.clock
        lease.acquire(_query(base, detail), schemas, zone, holder, log, _lease_table(first), clock)
        wh = describe(base, schemas, detail)  # as it is now: another run may have published meanwhile
        run_sql(base, stage_sql(wh, schemas, keep), log, detail)
    copied = f"; copied from live: {', '.join(keep)}" if keep else ""
    log(f"zone {zone}: staging ready in " + ", ".join(wh.q(staging_name(s)) for s in schemas) + copied)


def release(base: DbtCall, schemas: Sequence[str], holder: Holder, log: Log, now: str = lease.NOW) -> None:
    """Give the zone's lease back after a publish; a failure to do so is logged, not raised (the
    lease is taken over once the run is no longer running)."""
    try:
        with _details(log) as detail:
            _query(base, detail)(
                lease.release_sql(schemas, holder.run), lease.leases_sql(schemas, holder.max_age_h, now)
            )
    except Exception as exc:
        log(f"could not give back the lease of run {holder.run}: {exc}")


def publish(
    base: DbtCall, zone: str, schemas: Sequence[str], relations: Sequence[str], holder: Holder, log: Log
) -> None:
    """Swap the zone's staging copy live in one step, if this run still holds the zone's lease
    and staging holds every relation the zone builds; then give the lease back. A run whose
    stage or publish failed keeps the lease, so that clearing its failed tasks can still publish
    its staging copy; the next run takes it over once this one is no longer running."""
    with _details(log) as detail:
        wh = describe(base, [*schemas, lease.SCHEMA], detail)
        if not _lease_table(wh):
            raise PublishError(
                f"zone {zone} not published: no lease table {lease.TABLE}, so this run's stage task "
                "did not take the zone's lease (a stage from an older sluice?); run the DAG again"
            )
        lease.check(_query(base, detail), schemas, zone, holder, wh.publisher.clock)
        statements = publish_sql(wh, schemas, relations)
        wh.publisher.publish(_DbtSession(base, log, detail), wh, schemas, statements)
    release(base, schemas, holder, log, wh.publisher.clock)
    swapped = {s: wh.rels(staging_name(s)) for s in schemas}
    total = sum(len(rels) for rels in swapped.values())
    log(f"zone {zone}: published {total} relation(s) live at once in " + ", ".join(wh.q(s) for s in schemas))
    counts = _row_counts(base, wh, swapped, log)
    for schema, rels in swapped.items():
        for rel in rels:
            rows = counts.get((schema, rel.name))
            log(f"  {schema}.{rel.name} ({rel.type})" + (f": {rows} rows" if rows is not None else ""))


def _row_counts(
    base: DbtCall, wh: Warehouse, swapped: Mapping[str, Sequence[Relation]], log: Log
) -> dict[tuple[str, str], str]:
    """Rows in each published table, read live after the swap, where the engine counts from its
    metadata (a PostgreSQL count would scan each table); a view is not counted (that would run
    it). The counts are for the log: a failure to read them is said, never raised."""
    tables = [(s, r.name) for s, rels in swapped.items() for r in rels if r.type == "table"]
    if not tables or not wh.publisher.cheap_counts:
        return {}
    sql = " union all ".join(
        f"select {_literal(s)}, {_literal(t)}, count(*) from {wh.q(s, t)}"  # noqa: S608
        for s, t in tables
    )
    try:
        rows = _query(base, lambda _: None)([], sql)
    except Exception as exc:
        log(f"  (row counts not read: {first_line(exc)})")
        return {}
    return {(str(r[0]), str(r[1])): str(r[2]) for r in rows}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def report_blocked(
    base: DbtCall, zone: str, schemas: Sequence[str], blockers: Sequence[str], log: Log
) -> None:
    """Say what held the publish back and how to look at the staging copy; then fail."""
    log(f"zone {zone} NOT published: live stays on the previous version. Blocked by:")
    for blocker in blockers:
        log(f"  {blocker}")
    try:
        wh = describe(base, schemas, log)
    except Exception as exc:  # the report must not hide the reason the publish was blocked
        log(f"(could not list the staging copy: {exc})")
    else:
        log("The staging copy is kept for inspection; query it with:")
        for schema in schemas:
            relation_listing(wh, schema, log)
    raise PublishError(f"zone {zone} not published: blocked by {', '.join(blockers)}")
