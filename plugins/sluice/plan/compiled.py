"""Compiled plans: the plan of a spec, stored once and reused while spec and manifest are the same.

Airflow re-imports dags/ every 30 seconds; reading a large manifest and planning it each time
would cost seconds. `sluice compile` (or the first import) writes one small JSON file per spec
and environment, keyed by the spec's bytes, the environment, sluice's version and the manifest's
content hash. A file whose key does not match is stale and is rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import msgspec

import sluice
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import Plan
from sluice.settings import settings
from sluice.spec.paths import dbt_paths
from sluice.spec.reader import SpecFile

#: 2: atomic zones (task schemas, kept relations); 3: relations a publish checks; 4: every
#: decision (operator and typed arguments, trigger rule, outlets, docs, groups, dbt batches);
#: 5: zone build tasks, and the tasks that watch them; schedules on other pipelines' zones;
#: 6: source freshness tasks; 7: a zone's build path starts after the previous zone's build;
#: 8: what a run's select option may name (Plan.selectable), trigger rules that let a selection run;
#: 9: dbt's selector methods and set operators (a stored plan may hold another reading of a selector)
#: 10: event stream loads (ingest) and archival tasks
FORMAT = 10


def plan_dir(sf: SpecFile) -> Path:
    """$SLUICE_PLAN_DIR, else target/sluice/ inside the spec's dbt project."""
    configured = settings().plan_dir
    return configured if configured else dbt_paths(sf).project_dir / "target" / "sluice"


def plan_path(sf: SpecFile) -> Path:
    return plan_dir(sf) / f"{sf.path.stem}.{sf.environment}.plan.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _spec_key(sf: SpecFile) -> str:
    digest = hashlib.sha256(sf.path.read_bytes())
    # the execution mode, which $SLUICE_DBT_EXECUTION may set, decides whether zones have builds
    execution = settings().dbt_execution(sf.spec.dbt.execution)
    digest.update(f"\0{sf.environment}\0{sluice.__version__}\0{FORMAT}\0{execution}".encode())
    return digest.hexdigest()


def version_key(sf: SpecFile) -> str:
    """Changes whenever the spec, environment, sluice or the manifest file changes."""
    try:
        stat = dbt_paths(sf).manifest.stat()
        manifest = f"{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        manifest = "none"
    return f"{_spec_key(sf)}:{manifest}"


def _fresh(doc: dict[str, Any], spec_key: str, manifest: Path) -> bool:
    """The stored plan still holds: same spec key, and the same manifest bytes (checked by hash
    only when size or mtime differ, as after a copy to another machine)."""
    stored = doc.get("manifest") or {}
    if doc.get("spec") != spec_key or doc.get("format") != FORMAT:
        return False
    try:
        stat = manifest.stat()
    except OSError:
        return False
    if stored.get("size") != stat.st_size:
        return False
    return stored.get("mtime_ns") == stat.st_mtime_ns or stored.get("sha256") == _sha256(manifest)


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".plan-", suffix=".json")
    with os.fdopen(fd, "wb") as handle:
        # msgspec: ~3 ms for a 10,000-task plan; json.dump streams through json's Python
        # encoder (~75 ms), as it takes the C one only for a whole string (json.dumps, ~22 ms)
        handle.write(msgspec.json.encode(doc))
    Path(tmp).replace(path)  # atomic: a parser never sees half a file


def _store(sf: SpecFile, plan: Plan) -> Path:
    manifest = dbt_paths(sf).manifest
    stat = manifest.stat()
    doc = {
        "format": FORMAT,
        "spec": _spec_key(sf),
        "manifest": {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": _sha256(manifest)},
        "plan": plan.to_dict(),
    }
    path = plan_path(sf)
    write_json(path, doc)
    return path


def compile_plan(sf: SpecFile) -> tuple[Plan, Path]:
    """Build the plan from the manifest and store it; returns the plan and where it went."""
    plan = plan_spec(sf)
    return plan, _store(sf, plan)


def load_plan(sf: SpecFile) -> Plan:
    """The stored plan when it is fresh; otherwise plan again and try to store the result
    (a read-only deployment simply plans on every import)."""
    path = plan_path(sf)
    try:
        doc = json.loads(path.read_bytes())
        if _fresh(doc, _spec_key(sf), dbt_paths(sf).manifest):
            return Plan.from_dict(doc["plan"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):  # a corrupt file is rebuilt
        pass
    plan = plan_spec(sf)
    with contextlib.suppress(OSError):
        _store(sf, plan)
    return plan
