"""Plan every spec of a folder at once: what the DAG files and `sluice validate` both need."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sluice.errors import SluiceError, SpecErrors
from sluice.plan.compiled import load_plan
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import Plan
from sluice.spec.loader import SpecFile, display_path, load_spec, spec_paths


def problem_lines(exc: SluiceError) -> list[str]:
    """One line per problem: a spec with several errors says each."""
    return [str(e) for e in exc.errors] if isinstance(exc, SpecErrors) else [str(exc)]


@dataclass
class FolderPlan:
    plans: list[tuple[SpecFile, Plan]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def plan_folder(
    paths: Iterable[str | Path], *, every_environment: bool = False, manifest: str | None = None
) -> FolderPlan:
    """Plan each spec for the active environment (with stored plans), or for every environment it
    declares (planned afresh, against ``manifest`` if given). A broken spec or a pipeline id used
    twice is a problem line; the other specs are planned all the same."""
    out = FolderPlan()
    owners: dict[str, Path] = {}
    for path in spec_paths(paths):
        try:
            sf = load_spec(path)
            if every_environment:
                for env in sf.environments:
                    checked = plan_spec(sf if env == sf.environment else load_spec(path, env), manifest)
                    out.warnings.extend(
                        f"{display_path(path)}: warning ({env}): {w}" for w in checked.warnings
                    )
                    if env == sf.environment:
                        plan = checked
            else:
                plan = load_plan(sf) if manifest is None else plan_spec(sf, manifest)
        except SluiceError as exc:
            out.problems.extend(problem_lines(exc))
            continue
        pipeline = sf.spec.pipeline
        if pipeline in owners:
            first = display_path(owners[pipeline])
            out.problems.append(f"{display_path(path)}:1: pipeline: '{pipeline}' is also the id of {first}")
            continue
        owners[pipeline] = path
        out.plans.append((sf, plan))
    return out
