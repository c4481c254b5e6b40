"""Plan every spec of a folder at once: what the DAG files and `sluice validate` both need."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sluice.errors import SluiceError, SpecErrors, first_line, one_line
from sluice.plan.compiled import load_plan
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import Plan
from sluice.spec.models import After
from sluice.spec.reader import SpecFile, load_spec, spec_paths
from sluice.spec.yaml_lines import display_path


def problem_lines(exc: SluiceError) -> list[str]:
    """One line per problem: a spec with several errors says each."""
    return [str(e) for e in exc.errors] if isinstance(exc, SpecErrors) else [str(exc)]


def unexpected(path: Path, exc: BaseException) -> str:
    """A failure sluice did not foresee, still said in one line that names the spec."""
    what = f"{type(exc).__name__}: {first_line(exc)}"
    return one_line(f"{display_path(path)}: {what} (this is a sluice bug; please report it)")


@dataclass
class FolderPlan:
    plans: list[tuple[SpecFile, Plan]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


#: a check the plan layer cannot make itself (Airflow's own), raising SpecError
Check = Callable[[SpecFile, Plan], None]


def _plan_one(
    path: Path,
    every_environment: bool,
    manifest: str | None,
    check: Check | None,
    out: FolderPlan,
    environment: str | None = None,
) -> tuple[SpecFile, Plan]:
    sf = load_spec(path, environment)
    if not every_environment:
        plan = load_plan(sf) if manifest is None else plan_spec(sf, manifest)
        if check is not None:
            check(sf, plan)
        return sf, plan
    chosen: Plan | None = None
    for env in sf.environments:
        env_sf = sf if env == sf.environment else load_spec(path, env)
        checked = plan_spec(env_sf, manifest)
        if check is not None:
            check(env_sf, checked)
        out.warnings.extend(f"{display_path(path)}: warning ({env}): {w}" for w in checked.warnings)
        if env == sf.environment:
            chosen = checked
    assert chosen is not None  # sf.environments holds the active one
    return sf, chosen


def plan_folder(
    paths: Iterable[str | Path],
    *,
    every_environment: bool = False,
    manifest: str | None = None,
    check: Check | None = None,
    environment: str | None = None,
) -> FolderPlan:
    """Plan each spec for the active environment (with stored plans), or for every environment it
    declares (planned afresh, against ``manifest`` if given), and ``check`` each plan. A broken
    spec, whatever went wrong with it, is a problem line naming it; the others go on all the same.
    ``environment`` is the active one (``--env``); default: the settings' (sluice.settings)."""
    out = FolderPlan()
    planned: list[tuple[SpecFile, Plan]] = []
    files = spec_paths(paths)
    for path in files:
        try:
            planned.append(_plan_one(path, every_environment, manifest, check, out, environment))
        except SluiceError as exc:
            out.problems.extend(problem_lines(exc))
        except Exception as exc:  # one spec must never take the others down with it
            out.problems.append(unexpected(path, exc))
    _claim_ids(planned, files, out, warn_names=every_environment)
    if every_environment:
        # at import a pipeline scheduled on a zone that is not there yet simply waits for it;
        # `sluice validate` says so, so that it is a choice and not a typo
        _check_after(out)
    return out


def _check_after(out: FolderPlan) -> None:
    """Each zone of a ``schedule: {after: [...]}`` is an atomic zone of another loaded pipeline
    (an atomic zone's publish announces it; a barrier zone announces nothing)."""
    plans = {plan.pipeline: plan for _, plan in out.plans}
    announced = {o.uri for plan in plans.values() for t in plan.tasks for o in t.outlets}
    for sf, plan in out.plans:
        on_zones = sf.spec.schedule.after if isinstance(sf.spec.schedule, After) else ()
        for i, (ref, uri) in enumerate(zip(on_zones, plan.dag.after, strict=True)):
            pipeline, zone = ref.split(".", 1)
            if pipeline == plan.pipeline:
                why = "a pipeline cannot wait on its own zones (it would trigger itself)"
            elif uri in announced:
                continue
            elif pipeline not in plans:
                why = f"no valid pipeline '{pipeline}' among the specs (known: {', '.join(sorted(plans))})"
            elif zone not in plans[pipeline].zones:
                why = f"'{pipeline}' has no zone '{zone}' (zones: {', '.join(plans[pipeline].zones)})"
            else:
                why = f"{ref} is not published atomically, so nothing announces it: set publish: atomic on it"
            out.problems.append(str(sf.error(("schedule", "after", i), why)))


def _claim_ids(
    planned: list[tuple[SpecFile, Plan]], paths: list[Path], out: FolderPlan, *, warn_names: bool
) -> None:
    """A pipeline id belongs to the spec file named after it (``payments_daily.yml``), even while
    that file is broken: no other file may build that DAG. An id that two files claim, neither
    named after it, is refused in both. So a copied spec can never silently take a DAG over."""
    named: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        named[path.stem].append(path)
    claims: dict[str, list[tuple[SpecFile, Plan]]] = defaultdict(list)
    for sf, plan in planned:
        claims[sf.spec.pipeline].append((sf, plan))
    for pipeline, claimants in claims.items():
        owner = named[pipeline][0] if len(named[pipeline]) == 1 else None
        where = {sf.path: _at_id(sf) for sf, _ in claimants}
        for sf, plan in claimants:
            if sf.path == owner or (owner is None and len(claimants) == 1):
                out.plans.append((sf, plan))
                if warn_names and owner is None:
                    out.warnings.append(
                        f"{where[sf.path]}: warning: name this file {pipeline}.yml: the file named after "
                        "a pipeline id owns it, so a copy of this file could not take the DAG over"
                    )
                continue
            if owner is not None:
                why = (
                    f"'{pipeline}' belongs to {where.get(owner) or display_path(owner)}, the file named "
                    "after it; use another id"
                )
            else:
                others = ", ".join(w for p, w in where.items() if p != sf.path)
                why = (
                    f"'{pipeline}' is also the id in {others}; none of them is loaded until one "
                    f"is named {pipeline}.yml (that file owns the id) or the others use other ids"
                )
            out.problems.append(str(sf.error(("pipeline",), why)))


def _at_id(sf: SpecFile) -> str:
    """``file:line`` of a spec's ``pipeline:`` key."""
    err = sf.error(("pipeline",), "")
    return f"{err.path}:{err.line}"
