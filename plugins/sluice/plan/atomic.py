"""Atomic zones: the schemas each one owns, and what its stage and publish steps must carry."""

from __future__ import annotations

from sluice.errors import PlanError
from sluice.manifest.reader import BUILDABLE, Manifest
from sluice.plan.graph import listing
from sluice.spec.models import PipelineSpec, PublishMode


def atomic_zones(
    spec: PipelineSpec, manifest: Manifest, zone_of: dict[str, int]
) -> tuple[dict[int, tuple[str, ...]], dict[int, tuple[str, ...]], dict[int, tuple[str, ...]]]:
    """Per atomic zone: the schemas it owns, its relations that build on their own history
    (incremental models, snapshots), and all the relations it builds. A schema shared with
    anything outside the zone would be swapped along with it, so that is an error."""
    atomic = [zi for zi, z in enumerate(spec.zones) if z.publish is PublishMode.ATOMIC]
    if not atomic:
        return {}, {}, {}
    calls = manifest.macro_calls
    missing = [m for m in ("sluice_describe", "sluice_run_sql", "sluice_query") if m not in calls]
    if missing or "sluice_schema" not in calls.get("generate_schema_name", frozenset()):
        raise PlanError(
            f"zones[{atomic[0]}].publish",
            "atomic publish needs the sluice macros in the dbt project (copy dbt/macros/sluice) "
            "and a generate_schema_name that ends with sluice_schema(...)",
        )
    schemas: dict[int, tuple[str, ...]] = {}
    keep: dict[int, tuple[str, ...]] = {}
    built: dict[int, tuple[str, ...]] = {}
    for zi in atomic:
        members = [manifest.nodes[u] for u, z in zone_of.items() if z == zi]
        owned = {n.schema for n in members if n.schema}
        strangers = sorted(
            f"{n.unique_id} (schema {n.schema})"
            for n in manifest.nodes.values()
            if n.schema in owned
            and n.resource_type in BUILDABLE
            and not n.is_ephemeral
            and n.enabled
            and zone_of.get(n.unique_id) != zi
        )
        if strangers:
            raise PlanError(
                f"zones[{zi}].publish",
                f"atomic zone '{spec.zones[zi].name}' must own its schemas, but these nodes outside it "
                f"build there too: {listing(strangers)}; give the zone schemas of its own",
            )
        schemas[zi] = tuple(sorted(owned))
        keep[zi] = tuple(
            sorted(
                f"{n.schema}.{n.alias}"
                for n in members
                if n.materialized in ("incremental", "snapshot") or n.resource_type == "snapshot"
            )
        )
        built[zi] = tuple(sorted(f"{n.schema}.{n.alias}" for n in members))
    return schemas, keep, built
