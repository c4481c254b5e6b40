"""Where a spec's dbt project, profiles and manifest are, resolved against the spec's folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sluice.spec.reader import SpecFile


@dataclass(frozen=True)
class DbtPaths:
    project_dir: Path
    profiles_dir: Path
    manifest: Path


def dbt_paths(sf: SpecFile, manifest: str | Path | None = None) -> DbtPaths:
    dbt = sf.spec.dbt
    project = (sf.base_dir / dbt.project_dir).resolve()
    profiles = (sf.base_dir / dbt.profiles_dir).resolve() if dbt.profiles_dir else project
    if manifest is not None:
        found = Path(manifest).resolve()
    elif dbt.manifest:
        found = (sf.base_dir / dbt.manifest).resolve()
    else:
        found = project / "target" / "manifest.json"
    return DbtPaths(project, profiles, found)
