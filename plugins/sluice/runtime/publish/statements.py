"""The stage and publish statements of a zone: the checks every engine shares, then its
publisher's own SQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sluice.runtime.publish.base import PublishError, ident, staging_name
from sluice.runtime.publish.warehouse import Warehouse


def stage_sql(wh: Warehouse, schemas: Sequence[str], keep: Sequence[str]) -> list[str]:
    """Empty each staging schema, then copy the live relations in ``keep`` ("schema.name":
    incremental models and snapshots, which must build on their history) into it."""
    _check_names(wh, schemas)
    out: list[str] = []
    for schema in schemas:
        kept = [name for owner, name in _kept(schemas, keep) if owner == schema]
        out += wh.publisher.stage_sql(wh, schema, kept)
    return out


def _check_names(wh: Warehouse, schemas: Sequence[str]) -> None:
    """Refuse a name the engine's SQL cannot carry (Snowflake) as the user wrote it, before the
    staging and retired names built on it."""
    for schema in schemas:
        wh.q(schema)


def _kept(schemas: Sequence[str], keep: Sequence[str]) -> list[tuple[str, str]]:
    """Split each "schema.name" of ``keep`` at its schema, which may hold a dot itself."""
    out = []
    for entry in keep:
        owners = [s for s in schemas if entry.startswith(s + ".")]
        if owners:
            owner = max(owners, key=len)
            out.append((owner, entry[len(owner) + 1 :]))
    return out


def publish_sql(wh: Warehouse, schemas: Sequence[str], relations: Sequence[str] = ()) -> list[str]:
    """The statements that make every staged schema live at once. Empty staging is an error, and
    so is staging that lacks any of ``relations`` ("schema.name": what the zone built this run):
    it is not this run's copy, and publishing it would drop live tables."""
    _check_names(wh, schemas)
    missing = [s for s in schemas if not wh.has(staging_name(s))]
    if missing:
        raise PublishError(
            "nothing staged to publish: " + ", ".join(wh.q(staging_name(s)) for s in missing) + " missing"
        )
    absent = unstaged(wh, schemas, relations)
    if absent:
        raise PublishError(
            f"staging lacks {len(absent)} relation(s) this run built: "
            + ", ".join(absent)
            + "; it is not this run's staging copy, so live stays as it was"
        )
    return wh.publisher.publish_sql(wh, schemas)


def unstaged(wh: Warehouse, schemas: Sequence[str], relations: Sequence[str]) -> list[str]:
    """The relations ("schema.name") missing from their schema's staging copy."""
    wanted = _kept(schemas, relations)
    staged = {(s.lower(), r.name.lower()) for s, _ in wanted for r in wh.rels(staging_name(s))}
    return [wh.q(staging_name(s), name) for s, name in wanted if (s.lower(), name.lower()) not in staged]


def relation_listing(wh: Warehouse, schema: str, log: Callable[[str], None]) -> None:
    """Tell a reader of the log how to look at what a blocked publish left in staging."""
    staging = staging_name(schema)
    rels = wh.rels(staging)
    if not rels:
        log(f"  {wh.q(staging)} holds nothing yet")
        return
    for rel in rels:
        # the warehouse's own name for the relation, exact on every engine
        log(f"  select * from {wh.q(staging)}.{ident(rel.name)};  -- staged {rel.type}")  # noqa: S608
