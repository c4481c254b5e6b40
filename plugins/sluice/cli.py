"""`sluice validate`, `sluice plan` and `sluice report`: the contracts CI and other tools call."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sluice.airbyte import commands as airbyte_commands
from sluice.errors import SluiceError
from sluice.events import commands as event_commands
from sluice.gc_pause import gc_paused
from sluice.plan.compiled import compile_plan
from sluice.plan.folder import plan_folder, problem_lines
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import Plan
from sluice.settings import settings
from sluice.spec.models import ENVIRONMENTS, INGEST_GROUP, check_identifier
from sluice.spec.reader import active_environment, find_spec, load_spec, spec_paths
from sluice.spec.schema import SCHEMA_NAME, write_schema


def validate(paths: Sequence[str], manifest: str | None, environment: str | None = None) -> int:
    chosen = paths or [settings().specs_dir]
    if not spec_paths(chosen):
        print(f"sluice validate: no spec files under {', '.join(chosen)}", file=sys.stderr)
        return 1
    from sluice.airflow.checks import check_with_airflow  # Airflow only for the commands that need it

    with gc_paused():
        result = plan_folder(
            chosen,
            every_environment=True,
            manifest=manifest,
            check=check_with_airflow,
            environment=environment,
        )
    for line in result.problems + result.warnings:
        print(line)
    if result.problems:
        return 1
    print(f"sluice validate: {len(result.plans)} spec(s) valid", file=sys.stderr)
    return 0


def compile_specs(paths: Sequence[str], environment: str | None = None) -> int:
    """Store the plan of every spec for each environment it declares, for fast DAG imports."""
    with gc_paused():
        for path in spec_paths(paths or [settings().specs_dir]):
            for env in load_spec(path, environment).environments:
                _, written = compile_plan(load_spec(path, env))
                print(f"{path} ({env}) -> {written}")
    return 0


def new(
    name: str,
    project: str,
    manifest: str | None,
    specs_dir: str,
    connection: str | None,
    environment: str | None = None,
) -> int:
    """Write ``<specs>/<name>.yml`` for the dbt project, zones proposed from its folders, and
    validate it."""
    from sluice.manifest.reader import load_manifest
    from sluice.new_pipeline import propose_zones, relative, spec_text

    try:
        check_identifier(name)
    except ValueError as exc:
        raise SluiceError(f"sluice new: pipeline name {exc}") from None
    specs = Path(specs_dir)
    path = specs / f"{name}.yml"
    if path.exists():
        raise SluiceError(f"sluice new: {path} exists; pick another name or edit that spec")
    try:
        taken: Path | None = find_spec(name, specs_dir)
    except SluiceError:
        taken = None
    if taken is not None:
        raise SluiceError(f"sluice new: {taken} already defines pipeline '{name}'")
    project_dir = Path(project)
    found = Path(manifest) if manifest else project_dir / "target" / "manifest.json"
    if not found.is_file():
        raise SluiceError(f"sluice new: no manifest at {found}; run `dbt parse` in {project_dir} first")
    zones = propose_zones(load_manifest(found))
    airbyte = (relative(settings().airbyte_config_dir(), specs), connection) if connection else None
    specs.mkdir(parents=True, exist_ok=True)
    path.write_text(spec_text(name, zones, relative(project_dir, specs), airbyte), encoding="utf-8")
    print(f"wrote {path}: zones {', '.join(z for z, _ in zones)}", file=sys.stderr)
    return validate([str(path)], manifest, environment)


def import_factory(
    config_dir: str,
    factory_env: str | None,
    name: str | None,
    project: str,
    manifest: str | None,
    specs_dir: str,
    airbyte_config: str | None,
    environment: str | None = None,
) -> int:
    """Write ``<specs>/<pipeline>.yml`` from a dbt-airflow-factory configuration folder, list
    what has no equivalent, and validate it."""
    from sluice.airbyte.config import load_config
    from sluice.dbt_airflow_factory.config import read_config
    from sluice.dbt_airflow_factory.spec import spec_text, translate
    from sluice.dbt_airflow_factory.zones import save_point_zones
    from sluice.manifest.reader import load_manifest
    from sluice.new_pipeline import relative

    cfg = read_config(config_dir, factory_env)
    if name is not None:
        try:
            check_identifier(name)
        except ValueError as exc:
            raise SluiceError(f"sluice import-dbt-airflow-factory: pipeline name {exc}") from None
    project_dir, specs = Path(project), Path(specs_dir)
    named = cfg["airflow.yml"].get("manifest_file_name")
    if manifest is None and isinstance(named, str) and (cfg.dag_folder / named).is_file():
        manifest = str(cfg.dag_folder / named)  # the factory's own manifest, as its airflow.yml names it
    found = Path(manifest) if manifest else project_dir / "target" / "manifest.json"
    if not found.is_file():
        raise SluiceError(f"sluice import-dbt-airflow-factory: no manifest at {found}; run `dbt parse` first")
    save_points = [str(s) for s in cfg["airflow.yml"].get("save_points") or []]
    planned = save_point_zones(save_points, load_manifest(found))
    written_manifest = relative(found, specs) if manifest else None
    airbyte_dir = settings().airbyte_config_dir(airbyte_config)
    try:
        connections = set(load_config(airbyte_dir).connections)
    except SluiceError:  # validation below says what is wrong with the folder
        connections = set()
    imported = translate(
        cfg, planned.zones, project_dir=relative(project_dir, specs),
        airbyte_config=relative(airbyte_dir, specs), connections=connections,
        manifest=written_manifest, pipeline=name,
    )  # fmt: skip
    path = specs / f"{imported.spec['pipeline']}.yml"
    if path.exists():
        raise SluiceError(f"sluice import-dbt-airflow-factory: {path} exists; pass --name or move it")
    specs.mkdir(parents=True, exist_ok=True)
    read_from = ", ".join(dict.fromkeys(str(p.parent) for p in cfg.read))
    path.write_text(spec_text(imported, read_from, planned.notes), encoding="utf-8")
    print(f"wrote {path}: zones {', '.join(z for z, _ in planned.zones)}", file=sys.stderr)
    for line in planned.notes:
        print(f"note: {line}", file=sys.stderr)
    for line in imported.covered:
        print(f"done the sluice way: {line}", file=sys.stderr)
    for line in imported.left_out:
        print(f"not carried over: {line}", file=sys.stderr)
    return validate([str(path)], None, environment)


def _text(plan: Plan) -> str:
    lines = [f"pipeline {plan.pipeline}: {len(plan.tasks)} tasks"]
    ingest = [INGEST_GROUP] if any(t.zone == INGEST_GROUP for t in plan.tasks) else []
    for zone in (*ingest, *plan.zones):
        tasks = [t for t in plan.tasks if t.zone == zone]
        lines.append(f"\n[{zone}] {len(tasks)} tasks")
        for t in tasks:
            after = f"  <- {', '.join(t.upstream)}" if t.upstream else ""
            lines.append(f"  {t.kind.value:<10}{t.id}{after}")
    lines.extend(f"warning: {w}" for w in plan.warnings)
    return "\n".join(lines)


def plan(
    pipeline: str, as_json: bool, manifest: str | None, specs_dir: str, environment: str | None = None
) -> int:
    built = plan_spec(load_spec(find_spec(pipeline, specs_dir), environment), manifest)
    print(json.dumps(built.to_json(), indent=2) if as_json else _text(built))
    return 0


def report(
    pipeline: str,
    as_json: bool,
    out: str | None,
    runs: int,
    consumed: Sequence[str],
    manifest: str | None,
    specs_dir: str,
    environment: str | None = None,
    baseline: str | None = None,
) -> int:
    """Write PIPELINE.report.html and .json (or print the JSON) of dead models, bottlenecks and
    the timings of the DAG's last ``runs`` runs in Airflow's metadata database."""
    from sluice.manifest.reader import load_manifest
    from sluice.report.facts import report_facts
    from sluice.report.page import report_html
    from sluice.report.picture import zone_svg
    from sluice.spec.paths import dbt_paths

    sf = load_spec(find_spec(pipeline, specs_dir), environment)
    built = plan_spec(sf, manifest)
    loaded = load_manifest(dbt_paths(sf, manifest).manifest)
    history = None
    if runs > 0:
        from sluice.report.airflow_runs import read_history  # Airflow only when runs are read

        history = read_history(built.pipeline, runs)
    facts = report_facts(built, loaded, history, consumed)
    text = json.dumps(facts, indent=2)
    if as_json and out is None:
        print(text)
        return _new_dead(facts, baseline)
    from sluice.report.graph_facts import pipeline_graph

    pg = pipeline_graph(built, loaded, consumed)
    svg = zone_svg(
        pg, [n["node"] for n in facts["critical_path"]["nodes"]], [b["node"] for b in facts["bottlenecks"]]
    )
    folder = Path(out or ".")
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"{built.pipeline}.report.html"
    page.write_text(report_html(facts, svg), encoding="utf-8")
    (folder / f"{built.pipeline}.report.json").write_text(text + "\n", encoding="utf-8")
    print(f"wrote {page} and {page.with_suffix('.json')}: {facts['history']['note']}", file=sys.stderr)
    if as_json:
        print(text)
    return _new_dead(facts, baseline)


def _new_dead(facts: dict[str, Any], baseline: str | None) -> int:
    """1, with a line per model, when a model is dead that the baseline report did not list."""
    if baseline is None:
        return 0
    try:
        known = {d["node"] for d in json.loads(Path(baseline).read_text(encoding="utf-8"))["dead_models"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SluiceError(f"{baseline}: not a `sluice report --json` output ({type(exc).__name__})") from None
    new = [d for d in facts["dead_models"] if d["node"] not in known]
    for d in new:
        print(
            f"sluice report: new dead model {d['node']} ({d['zone']}): no path to an exposure "
            "or to a reader outside the pipeline",
            file=sys.stderr,
        )
    return 1 if new else 0


def docs(generated: str, out: str, project: str, specs_dir: str) -> int:
    """Copy dbt's docs site into ``out`` with each node's zone in its meta and tags."""
    from sluice.dbt_docs import build_site

    marked = build_site(Path(generated), Path(out), [specs_dir], Path(project))
    print(f"{out}: dbt docs with the zone of {marked} node(s)", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    specs_dir = settings().specs_dir
    parser = argparse.ArgumentParser(
        prog="sluice",
        description="Turn YAML pipeline specs into Airflow DAGs that build a dbt project zone by zone.",
    )
    parser.add_argument(
        "--env",
        choices=ENVIRONMENTS,
        help="environment whose overrides apply (default: $SLUICE_ENV, else local)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p_validate = sub.add_parser(
        "validate",
        help="check specs, their dbt selectors and zones against the manifest",
        description="Check every spec (all its environments) against the dbt manifest. "
        "Exit 0 when all are valid; otherwise exit 1 with one line per problem: FILE:LINE: KEY: what.",
    )
    p_validate.add_argument("paths", nargs="*", help=f"spec files or folders (default: {specs_dir})")
    p_validate.add_argument("--manifest", help="plan against this manifest.json instead")

    p_plan = sub.add_parser(
        "plan",
        help="print the task graph of one pipeline",
        description="Print the tasks of one pipeline, zone by zone, with what each waits for.",
    )
    p_plan.add_argument("pipeline", help="pipeline id, file stem, or path of a spec file")
    p_plan.add_argument("--json", action="store_true", help='print {"pipeline", "tasks": [...]} as JSON')
    p_plan.add_argument("--manifest", help="plan the same spec against another manifest.json")
    p_plan.add_argument("--specs", default=specs_dir, help=f"folder of specs (default: {specs_dir})")

    p_compile = sub.add_parser(
        "compile",
        help="store each spec's plan so Airflow imports skip the manifest",
        description="Plan every spec for each environment it declares and store the plans "
        "(under <dbt project>/target/sluice/, or $SLUICE_PLAN_DIR). DAG imports reuse a stored "
        "plan while the spec and manifest bytes are unchanged, and re-plan otherwise.",
    )
    p_compile.add_argument("paths", nargs="*", help=f"spec files or folders (default: {specs_dir})")

    p_new = sub.add_parser(
        "new",
        help="write a spec for the dbt project, zones proposed from its folders",
        description="Write <specs>/NAME.yml for the dbt project: one zone per model folder (folders "
        "that depend on each other both ways share one), in an order where no model depends on a "
        "later zone; seeds and snapshots join the zone that reads them. Then validate it.",
    )
    p_new.add_argument("name", help="pipeline id (the Airflow dag_id) and file name")
    p_new.add_argument("--dbt-project", default="dbt", help="the dbt project folder (default: dbt)")
    p_new.add_argument("--manifest", help="manifest.json (default: <project>/target/manifest.json)")
    p_new.add_argument("--specs", default=specs_dir, help=f"folder to write into (default: {specs_dir})")
    p_new.add_argument("--from-airbyte", metavar="CONNECTION", help="sync this Airbyte connection first")

    p_import = sub.add_parser(
        "import-dbt-airflow-factory",
        help="write a spec from a dbt-airflow-factory configuration folder",
        description="Read a dbt-airflow-factory configuration (config/base, overlaid by "
        "config/<--factory-env>: airflow.yml, dbt.yml, execution_env.yml, ingestion.yml, airbyte.yml) "
        "and write the equivalent spec: its save points (schemas) as zones, its Airbyte tasks as "
        "ingest connections, its DAG settings and default arguments. What has no equivalent is "
        "listed. Then validate the spec.",
    )
    p_import.add_argument(
        "config_dir", help="the factory's DAG folder, its config/ folder, or a folder with airflow.yml"
    )
    p_import.add_argument("--factory-env", help="the factory environment folder to overlay on config/base")
    p_import.add_argument("--name", help="pipeline id (default: the factory's dag_id, as a sluice name)")
    p_import.add_argument("--dbt-project", default="dbt", help="the dbt project folder (default: dbt)")
    p_import.add_argument("--manifest", help="manifest.json (default: airflow.yml's manifest_file_name, "
                          "else <project>/target/manifest.json)")  # fmt: skip
    p_import.add_argument("--specs", default=specs_dir, help=f"folder to write into (default: {specs_dir})")
    p_import.add_argument("--airbyte-config", help="the Airbyte YAML folder (default: airbyte_config)")

    p_report = sub.add_parser(
        "report",
        help="dead models, bottlenecks and run timings of one pipeline (HTML and JSON)",
        description="Write PIPELINE.report.html (one self-contained page) and PIPELINE.report.json: "
        "dead models (no path to an exposure or a reader outside the pipeline), bottlenecks "
        "(descendants, betweenness), the critical path, and per zone the build and test time, "
        "slowest models, flaky tests and untested models of the DAG's last runs in Airflow's "
        "metadata database.",
    )
    p_report.add_argument("pipeline", help="pipeline id, file stem, or path of a spec file")
    p_report.add_argument("--json", action="store_true", help="print the facts as JSON (CI can fail on them)")
    p_report.add_argument(
        "--out",
        help="folder for the .html and .json (default: the current one; "
        "with --json and no --out, nothing is written)",
    )
    p_report.add_argument("--runs", type=int, default=10, help="last N runs read (default 10; 0: none)")
    p_report.add_argument(
        "--consumed",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="dbt selector of models read outside the project, never dead (repeatable)",
    )
    p_report.add_argument(
        "--fail-on-new-dead",
        metavar="BASELINE",
        help="exit 1 when a model is dead that this earlier report's JSON does not list",
    )
    p_report.add_argument("--manifest", help="report against this manifest.json instead")
    p_report.add_argument("--specs", default=specs_dir, help=f"folder of specs (default: {specs_dir})")

    p_docs = sub.add_parser(
        "docs",
        help="dbt's docs site in one folder, each node's zone shown (make docs)",
        description="Copy the site `dbt docs generate` wrote (index.html, manifest.json, catalog.json) "
        "into OUT, writing into the manifest each built node's zone: meta.sluice_zone and a "
        "zone:<name> tag. The dbt project's own files are not changed.",
    )
    p_docs.add_argument("generated", help="the target folder `dbt docs generate` wrote")
    p_docs.add_argument("out", help="the site folder to write")
    p_docs.add_argument("--dbt-project", default="dbt", help="the dbt project folder (default: dbt)")
    p_docs.add_argument("--specs", default=specs_dir, help=f"folder of specs (default: {specs_dir})")

    airbyte_commands.add_parser(sub)
    event_commands.add_parser(sub)

    p_schema = sub.add_parser("schema", help=f"write {SCHEMA_NAME} for editor completion")
    p_schema.add_argument("directory", nargs="?", default=specs_dir, help=f"default: {specs_dir}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``sluice`` command: validate, plan, compile, schema and airbyte. Returns the exit code:
    0 when all went well, 1 with one line per problem on stderr (or stdout for validate)."""
    args = _parser().parse_args(argv)
    try:
        # passed down as an argument: the environment of this process and its children stays as given
        with_env = ("validate", "plan", "compile", "new", "import-dbt-airflow-factory", "report")
        env = active_environment(args.env) if args.command in with_env else None
        if args.command == "validate":
            return validate(args.paths, args.manifest, env)
        if args.command == "plan":
            return plan(args.pipeline, args.json, args.manifest, args.specs, env)
        if args.command == "new":
            return new(args.name, args.dbt_project, args.manifest, args.specs, args.from_airbyte, env)
        if args.command == "import-dbt-airflow-factory":
            return import_factory(
                args.config_dir, args.factory_env, args.name, args.dbt_project, args.manifest,
                args.specs, args.airbyte_config, env,
            )  # fmt: skip
        if args.command == "report":
            return report(
                args.pipeline,
                args.json,
                args.out,
                args.runs,
                args.consumed,
                args.manifest,
                args.specs,
                env,
                args.fail_on_new_dead,
            )
        if args.command == "docs":
            return docs(args.generated, args.out, args.dbt_project, args.specs)
        if args.command == "compile":
            return compile_specs(args.paths, env)
        if args.command == "airbyte":
            return airbyte_commands.run(args)
        if args.command == "events":
            return event_commands.run(args)
        print(write_schema(Path(args.directory)))
        return 0
    except SluiceError as exc:
        for line in problem_lines(exc):
            print(line, file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
