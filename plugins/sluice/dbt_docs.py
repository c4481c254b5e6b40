"""`make docs`: dbt's documentation site with each node's zone on it.

dbt writes the site (index.html, manifest.json, catalog.json) with `dbt docs generate`; this
copies it into one folder and writes into the copied manifest, for every model, seed and snapshot
a pipeline builds, ``meta.sluice_zone`` (shown on the node's page) and a ``zone:<name>`` tag (which
the lineage graph selects: ``tag:zone:gold``). The user's dbt files are never touched: the zone is
the plan's, so a change of a spec's zones shows on the next build of the site. No Airflow import.
`sluice docs GENERATED OUT` calls it.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sluice.errors import SluiceError
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import BUILD_KINDS
from sluice.spec.paths import dbt_paths
from sluice.spec.reader import load_spec, spec_paths

#: the files of dbt's site; dbt's index.html reads the two JSON files beside it
SITE_FILES = ("index.html", "manifest.json", "catalog.json")
META_KEY = "sluice_zone"


def zones_by_node(specs: Sequence[str], project_dir: Path) -> dict[str, dict[str, str]]:
    """Per dbt node, pipeline -> zone, over the specs that build ``project_dir``."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for path in spec_paths(specs):
        sf = load_spec(path)
        if dbt_paths(sf).project_dir != project_dir.resolve():
            continue
        plan = plan_spec(sf)
        for task in plan.tasks:
            if task.kind in BUILD_KINDS and task.node and task.zone:
                found[task.node][plan.pipeline] = task.zone
    return dict(found)


def with_zones(manifest: dict[str, Any], zones: dict[str, dict[str, str]]) -> int:
    """Write each node's zone into its meta and tags (top level and config, as dbt mirrors them);
    returns how many nodes got one."""
    marked = 0
    for uid, by_pipeline in zones.items():
        node = manifest.get("nodes", {}).get(uid)
        if not isinstance(node, dict):
            continue
        names = sorted(set(by_pipeline.values()))
        # one pipeline, or several that agree: the zone; otherwise each pipeline's
        zone = names[0] if len(names) == 1 else "; ".join(f"{p}: {z}" for p, z in sorted(by_pipeline.items()))
        config = node.setdefault("config", {})
        for holder in (node, config):
            meta = holder.get("meta")
            holder["meta"] = {**(meta if isinstance(meta, dict) else {}), META_KEY: zone}
            tags = holder.get("tags")
            holder["tags"] = sorted(
                {*(tags if isinstance(tags, list) else []), *(f"zone:{z}" for z in names)}
            )
        marked += 1
    return marked


def build_site(generated: Path, out: Path, specs: Sequence[str], project_dir: Path) -> int:
    missing = [name for name in SITE_FILES if not (generated / name).is_file()]
    if missing:
        raise SluiceError(f"{generated}: no {', '.join(missing)}; run `dbt docs generate` first")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("index.html", "catalog.json"):
        shutil.copyfile(generated / name, out / name)
    manifest = json.loads((generated / "manifest.json").read_text(encoding="utf-8"))
    marked = with_zones(manifest, zones_by_node(specs, project_dir))
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return marked
