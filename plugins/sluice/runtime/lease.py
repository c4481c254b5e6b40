"""Zone leases: one DAG run at a time owns an atomic zone, from its stage task to its publish task.

The lease lives in the warehouse, so it holds across machines (MWAA workers) and across
pipelines that share a schema: the table ``sluice.zone_leases`` has a row per live schema of an
atomic zone, and ``run_id`` names the run that holds it (``<dag_id>/<run_id>``) or is null.

- The stage task claims every schema of its zone in one UPDATE that only takes rows that are
  free or already its own, then reads the rows back: it holds the zone when all of them name it.
  Otherwise it gives back what it took (two runs each holding half of two schemas would wait for
  each other forever), waits, and tries again; past the wait limit it fails with one line naming
  the holder. Nothing in staging is touched until the lease is held.
- Takeover: a lease is taken over when Airflow says its run is neither queued nor running
  (finished, or deleted), or when it was taken or refreshed more than ``max_age_h`` hours ago
  (for a holder this Airflow cannot see, such as another deployment on the same warehouse).
- The publish task refreshes the lease and checks that it still names its run before any swap,
  and gives it back after the publish. A run whose stage or publish failed keeps it: clearing its
  failed tasks may still publish its staging copy, and the next run takes the lease over once
  Airflow no longer has this run queued or running.

The statements are the same on DuckDB, PostgreSQL, Snowflake and Redshift (no primary key:
Snowflake would not enforce it; UPDATEs of one table wait for each other, though on Redshift a
conflicting second transaction may instead fail with a serializable isolation error, failing the
stage task, whose retry claims again), but for the clock: ``now``, the engine publisher's
``clock`` (Redshift refuses ``current_timestamp`` on a user table and reads ``getdate()``).
Every value is
percent-encoded to letters, digits and ``/_.~:+@-``, so a literal never holds a quote or a
backslash, which Snowflake reads differently.
"""

# every value in this module's SQL goes through _lit(), which leaves no quote to break out with
# ruff: noqa: S608

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from sluice.runtime.publish import PublishError
from sluice.settings import settings

SCHEMA = "sluice"
TABLE = f"{SCHEMA}.zone_leases"
WAIT_VAR = "SLUICE_ZONE_LEASE_WAIT"
MAX_AGE_VAR = "SLUICE_ZONE_LEASE_MAX_AGE"
POLL_S = 15.0
#: the clock of DuckDB, PostgreSQL and Snowflake (sluice.runtime.publish.Publisher.clock)
NOW = "current_timestamp"
_SAFE = "/_.~:+@-"

#: runs statements (one transaction), then a query; returns the query's rows as text
Query = Callable[[Sequence[str], str], list[list[str | None]]]
Log = Callable[[str], None]


def wait_limit() -> float:
    """How long a stage task waits for another run's lease: $SLUICE_ZONE_LEASE_WAIT seconds."""
    return settings().zone_lease_wait_s


def max_age() -> int:
    """Hours after which any lease may be taken over: $SLUICE_ZONE_LEASE_MAX_AGE."""
    return int(settings().zone_lease_max_age_h)


@dataclass(frozen=True)
class Holder:
    """The DAG run that asks for a zone, and how to tell whether another holder still runs."""

    run: str  # "<dag_id>/<run_id>"
    #: Airflow's word on a holder: True while its run is queued or running (or cannot be told)
    is_live: Callable[[str], bool] = lambda _run: True
    wait_s: float = field(default_factory=wait_limit)
    max_age_h: int = field(default_factory=max_age)
    poll_s: float = POLL_S


@dataclass(frozen=True)
class Lease:
    schema: str
    run: str  # "" when free
    zone: str
    since: str
    stale: bool


def _lit(value: str) -> str:
    return "'" + quote(value, safe=_SAFE) + "'"


def _names(schemas: Sequence[str]) -> str:
    return ", ".join(_lit(s.lower()) for s in schemas)


def ensure_sql() -> list[str]:
    """The lease table, made on first use."""
    return [
        f"create schema if not exists {SCHEMA}",
        f"create table if not exists {TABLE} (schema_name varchar(255), run_id varchar(1000), "
        "zone_name varchar(255), taken_at timestamp with time zone)",
    ]


def claim_sql(
    schemas: Sequence[str], zone: str, run: str, replacing: Sequence[str] = (), now: str = NOW
) -> list[str]:
    """A row per schema, then one UPDATE that takes them all when none is held by a run other
    than ``run`` and those in ``replacing`` (leases being taken over)."""
    rows = " union all ".join(f"select {_lit(s.lower())} as schema_name" for s in schemas)
    mine = ", ".join(_lit(r) for r in (run, *replacing))
    return [
        f"insert into {TABLE} (schema_name) select n.schema_name from ({rows}) n "
        f"where not exists (select 1 from {TABLE} l where l.schema_name = n.schema_name)",
        f"update {TABLE} set run_id = {_lit(run)}, zone_name = {_lit(zone)}, taken_at = {now} "
        f"where schema_name in ({_names(schemas)}) and (run_id is null or run_id in ({mine})) "
        f"and not exists (select 1 from {TABLE} o where o.schema_name in ({_names(schemas)}) "
        f"and o.run_id is not null and o.run_id not in ({mine}))",
    ]


def refresh_sql(schemas: Sequence[str], run: str, now: str = NOW) -> list[str]:
    """Renew ``run``'s lease (its age restarts), so a publish under way is not taken over."""
    return [
        f"update {TABLE} set taken_at = {now} "
        f"where schema_name in ({_names(schemas)}) and run_id = {_lit(run)}"
    ]


def release_sql(schemas: Sequence[str], run: str) -> list[str]:
    return [
        f"update {TABLE} set run_id = null, zone_name = null, taken_at = null "
        f"where schema_name in ({_names(schemas)}) and run_id = {_lit(run)}"
    ]


def leases_sql(schemas: Sequence[str], max_age_h: int, now: str = NOW) -> str:
    """The lease rows of ``schemas``, every column as text."""
    return (
        f"select schema_name, coalesce(run_id, ''), coalesce(zone_name, ''), "
        f"coalesce(cast(taken_at as varchar), ''), "
        f"case when taken_at < {now} - interval '{int(max_age_h)} hours' "
        f"then 'stale' else 'fresh' end "
        f"from {TABLE} where schema_name in ({_names(schemas)}) order by 1, 2"
    )


def parse(rows: Sequence[Sequence[str | None]]) -> list[Lease]:
    return [
        Lease(unquote(s or ""), unquote(r or ""), unquote(z or ""), t or "", stale == "stale")
        for s, r, z, t, stale in rows
    ]


def held_by_others(leases: Sequence[Lease], schemas: Sequence[str], run: str) -> list[Lease]:
    """The leases that keep ``run`` from the zone; a schema without a row counts as not held."""
    found = {le.schema for le in leases}
    missing = [Lease(s.lower(), "?", "", "", False) for s in schemas if s.lower() not in found]
    return [le for le in leases if le.run != run] + missing


def describe(lease: Lease) -> str:
    if lease.run == "?":
        return f"schema {lease.schema} has no lease row"
    if not lease.run:
        return f"schema {lease.schema} is not leased by any run"
    return f"schema {lease.schema} is leased by run {lease.run} (zone {lease.zone}, since {lease.since})"


def acquire(
    query: Query,
    schemas: Sequence[str],
    zone: str,
    holder: Holder,
    log: Log,
    table_exists: bool,
    now: str = NOW,
) -> None:
    """Hold the zone's lease for ``holder``, waiting for another live run at most
    ``holder.wait_s`` seconds; raise PublishError naming the holder after that."""
    started = time.monotonic()
    replacing: set[str] = set()
    setup = [] if table_exists else ensure_sql()
    told: set[str] = set()
    while True:
        statements = setup + claim_sql(schemas, zone, holder.run, sorted(replacing), now)
        leases = parse(query(statements, leases_sql(schemas, holder.max_age_h, now)))
        setup = []
        others = held_by_others(leases, schemas, holder.run)
        if not others:
            log(f"zone {zone}: leased to run {holder.run}")
            return
        if _take_over(others, holder, replacing, log):
            continue
        waited = time.monotonic() - started
        busy = next((le for le in others if le.run not in ("", "?")), others[0])
        if waited >= holder.wait_s:
            query(release_sql(schemas, holder.run), leases_sql(schemas, holder.max_age_h, now))
            raise PublishError(
                f"zone {zone} not staged: {describe(busy)}, which is still running; waited "
                f"{waited:.0f} s ({WAIT_VAR}={holder.wait_s:g}); live and its staging are untouched"
            )
        if busy.run not in told:
            told.add(busy.run)
            log(f"zone {zone}: waiting for the lease: {describe(busy)} (up to {holder.wait_s:g} s)")
        if any(le.run == holder.run for le in leases):  # give back half a claim: no deadlock
            query(release_sql(schemas, holder.run), leases_sql(schemas, holder.max_age_h, now))
        time.sleep(max(0.0, min(holder.poll_s, holder.wait_s - waited)))


def _take_over(others: Sequence[Lease], holder: Holder, replacing: set[str], log: Log) -> bool:
    """Add the leases that may be taken over to ``replacing``; True when there were any new."""
    added = False
    for lease in others:
        if lease.run in ("", "?") or lease.run in replacing:
            continue
        if lease.stale:
            why = f"older than {holder.max_age_h} h ({MAX_AGE_VAR})"
        elif not holder.is_live(lease.run):
            why = "its run is neither queued nor running"
        else:
            continue
        log(f"taking over the lease of run {lease.run} on schema {lease.schema}: {why}")
        replacing.add(lease.run)
        added = True
    return added


def check(query: Query, schemas: Sequence[str], zone: str, holder: Holder, now: str = NOW) -> None:
    """Before a publish: renew the lease and make sure it still names this run."""
    leases = parse(query(refresh_sql(schemas, holder.run, now), leases_sql(schemas, holder.max_age_h, now)))
    others = held_by_others(leases, schemas, holder.run)
    if others:
        raise PublishError(
            f"zone {zone} not published: this run ({holder.run}) no longer holds its lease: "
            + "; ".join(describe(le) for le in others)
            + "; the staging copy is not this run's, live stays as it was"
        )
