"""Plan a loaded spec: find its manifest, build the plan, say errors at the spec's file and line."""

from __future__ import annotations

from pathlib import Path

from sluice.airbyte.config import load_config
from sluice.errors import ManifestError, PlanError, SluiceError, first_line
from sluice.events.config import load_streams
from sluice.manifest.reader import load_manifest
from sluice.plan.builder import build_plan
from sluice.plan.model import Plan
from sluice.settings import settings
from sluice.spec.paths import dbt_paths
from sluice.spec.reader import SpecFile
from sluice.spec.yaml_lines import display_path


def plan_spec(sf: SpecFile, manifest: str | Path | None = None) -> Plan:
    """The plan of one spec; a bad manifest or selection is a SpecError at the spec's key."""
    _check_connections(sf)
    _check_event_streams(sf)
    paths = dbt_paths(sf, manifest)
    try:
        loaded = load_manifest(paths.manifest)
    except ManifestError as exc:
        key = ("dbt", "manifest") if sf.spec.dbt.manifest else ("dbt", "project_dir")
        raise sf.error(key, str(exc)) from None
    # $SLUICE_DBT_EXECUTION changes the DAG's shape (zone build tasks), so it is planned here
    execution = settings().dbt_execution(sf.spec.dbt.execution)
    try:
        return build_plan(sf.spec, loaded, execution=execution)
    except PlanError as exc:
        raise sf.error(_loc(exc.key), exc.message) from None


def _check_connections(sf: SpecFile) -> None:
    """Every connection the spec syncs is defined in its Airbyte YAML folder."""
    ingest = sf.spec.ingest
    if ingest is None or not ingest.connections:
        return
    folder = sf.base_dir / ingest.airbyte_config
    try:
        known = load_config(folder).connections
    except SluiceError as exc:
        raise sf.error(
            ("ingest", "airbyte_config"), f"the Airbyte configuration is broken: {first_line(exc)}"
        ) from None
    for i, name in enumerate(ingest.connections):
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise sf.error(
                ("ingest", "connections", i),
                f"no Airbyte connection '{name}' in {display_path(folder / 'connections')} (known: {listed})",
            )


def _check_event_streams(sf: SpecFile) -> None:
    """Every event stream the spec loads is defined, and valid, in its folder."""
    ingest = sf.spec.ingest
    if ingest is None or not ingest.event_streams:
        return
    folder = sf.base_dir / ingest.event_streams_dir
    try:
        known = load_streams(folder).streams
    except SluiceError as exc:
        raise sf.error(
            ("ingest", "event_streams_dir"), f"the event streams are broken: {first_line(exc)}"
        ) from None
    for i, name in enumerate(ingest.event_streams):
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise sf.error(
                ("ingest", "event_streams", i),
                f"no event stream '{name}' in {display_path(folder)} (known: {listed})",
            )


def _loc(key: str) -> tuple[str | int, ...]:
    """``zones[1].select[0]`` → ("zones", 1, "select", 0)."""
    loc: list[str | int] = []
    for part in key.replace("]", "").replace("[", ".").split("."):
        if part:
            loc.append(int(part) if part.isdigit() else part)
    return tuple(loc)
