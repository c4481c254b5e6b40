"""A dbt-airflow-factory configuration as a sluice spec: what carries over, and a list of what
has no equivalent (each line names the file and key), so nothing is dropped unsaid."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import yaml

from sluice.dbt_airflow_factory.config import FactoryConfig
from sluice.dbt_airflow_factory.zones import identifier
from sluice.errors import one_line

#: what the factory's settings do that sluice does by itself, said instead of carried over
_BUILT_IN = {
    "seed_task": "seeds are nodes of the zones, each built before the models that read it",
    "use_task_group": "sluice draws each zone as a TaskGroup",
    "show_ephemeral_models": "sluice never draws ephemeral models; their SQL runs inside their children",
    "manifest_file_name": "sluice reads the manifest at dbt.manifest (default: the project's target/)",
}
_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)\s*$"
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class Imported:
    """The spec as a mapping (in the order it is written) and what was not carried over."""

    spec: dict[str, Any] = field(default_factory=dict)
    #: settings sluice covers its own way, said so that the reader can check them
    covered: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)

    def skip(self, file: str, key: str, why: str) -> None:
        self.left_out.append(f"{file}: {key}: {why}")

    def cover(self, file: str, key: str, how: str) -> None:
        self.covered.append(f"{file}: {key}: {how}")


def minutes(value: Any) -> float | None:
    """A duration the factory accepts (pytimeparse text such as 5m or 00:05:00, or seconds) in
    minutes; None when it is none of those."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 60
    if isinstance(value, timedelta):
        return value.total_seconds() / 60
    text = str(value)
    match = _DURATION.match(text)
    if match:
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0]] / 60
    parts = text.strip().split(":")
    if 2 <= len(parts) <= 3 and all(p.isdigit() for p in parts):
        seconds = 0
        for part in parts:  # [h:]m:s
            seconds = seconds * 60 + int(part)
        return seconds / 60
    return None


def _start_date(value: Any, out: Imported, where: str) -> date | None:
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            out.skip("airflow.yml", where, f"{value}: sluice starts a pipeline at midnight of start_date")
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return _start_date(datetime.fromisoformat(str(value)), out, where)
    except ValueError:
        out.skip("airflow.yml", where, f"'{value}' is not a date; set start_date by hand")
        return None


def _dag(dag: Mapping[str, Any], pipeline: str | None, out: Imported) -> None:
    raw_id = str(dag.get("dag_id") or "")
    name = pipeline or identifier(raw_id, "pipeline")
    if raw_id and name != raw_id:
        out.cover("airflow.yml", "dag.dag_id", f"'{raw_id}' is pipeline '{name}' (letters, digits and _)")
    out.spec["pipeline"] = name
    if dag.get("description"):
        out.spec["description"] = str(dag["description"])
    schedule = dag.get("schedule", dag.get("schedule_interval"))
    if isinstance(schedule, str) and not schedule.startswith("{{"):
        out.spec["schedule"] = schedule
    else:
        out.spec["schedule"] = None
        if schedule is not None:
            out.skip("airflow.yml", "dag.schedule_interval", f"'{schedule}': sluice takes a cron or a preset")
    kept = {"dag_id", "description", "schedule", "schedule_interval", "start_date", "catchup"}
    kept |= {"max_active_runs", "tags", "is_paused_upon_creation"}
    for key in ("catchup", "is_paused_upon_creation"):
        if isinstance(dag.get(key), bool):
            out.spec[key] = dag[key]
    if isinstance(dag.get("max_active_runs"), int):
        out.spec["max_active_runs"] = dag["max_active_runs"]
    if isinstance(dag.get("tags"), list):
        out.spec["tags"] = [str(t) for t in dag["tags"]]
    for key in sorted(set(dag) - kept):
        out.skip("airflow.yml", f"dag.{key}", "not a sluice pipeline setting")


def _default_args(args: Mapping[str, Any], out: Imported) -> list[str]:
    """Owner, start date, retries and timeouts; the e-mail addresses to notify on failure."""
    if args.get("owner"):
        out.spec["owner"] = str(args["owner"])
    if "start_date" in args:
        started = _start_date(args["start_date"], out, "default_args.start_date")
        if started is not None:
            out.spec["start_date"] = started
    defaults: dict[str, Any] = {}
    if isinstance(args.get("retries"), int):
        defaults["retries"] = args["retries"]
    for key, target in (
        ("retry_delay", "retry_delay_minutes"),
        ("execution_timeout", "execution_timeout_minutes"),
    ):
        if key in args:
            value = minutes(args[key])
            if value is None or value <= 0:
                out.skip(
                    "airflow.yml", f"default_args.{key}", f"'{args[key]}' is not a duration sluice reads"
                )
            else:
                defaults[target] = round(value, 3)
    if args.get("pool"):
        defaults["pool"] = str(args["pool"])
    if defaults:
        out.spec["defaults"] = defaults
    emails = args.get("email") or []
    emails = [emails] if isinstance(emails, str) else [str(e) for e in emails]
    kept = {"owner", "start_date", "retries", "retry_delay", "execution_timeout", "pool", "email"}
    kept |= {"email_on_failure"}
    for key in sorted(set(args) - kept):
        out.skip("airflow.yml", f"default_args.{key}", "no sluice equivalent")
    if emails and not args.get("email_on_failure", True):
        out.skip("airflow.yml", "default_args.email", "email_on_failure is off, so no one is notified")
        return []
    return emails


def _notify(handlers: Any, emails: list[str], out: Imported) -> None:
    notify: dict[str, Any] = {"when": ["failure"]}
    if emails:
        notify["email"] = emails
    for i, handler in enumerate(handlers if isinstance(handlers, list) else []):
        kind = handler.get("type") if isinstance(handler, Mapping) else None
        if kind == "slack" and handler.get("connection_id") and "slack" not in notify:
            notify["slack"] = {"connection": str(handler["connection_id"])}
            if handler.get("message_template"):
                out.skip(
                    "airflow.yml", f"failure_handlers[{i}].message_template", "sluice writes its own message"
                )
        else:
            out.skip(
                "airflow.yml",
                f"failure_handlers[{i}]",
                f"type {kind}: sluice notifies by Slack, e-mail or SNS",
            )
    if len(notify) > 1:
        out.spec["notify"] = notify


def _airflow(cfg: FactoryConfig, pipeline: str | None, out: Imported) -> None:
    airflow = cfg["airflow.yml"]
    _dag(airflow["dag"], pipeline, out)
    emails = _default_args(airflow["default_args"], out)
    _notify(airflow.get("failure_handlers"), emails, out)
    handled = {"dag", "default_args", "failure_handlers", "save_points"}
    for key in sorted(set(airflow) - handled):
        if key in _BUILT_IN:
            out.cover("airflow.yml", key, _BUILT_IN[key])
        elif key == "enable_project_dependencies":
            why = "sluice waits for other pipelines with schedule: {after: [pipeline.zone]}"
            out.skip("airflow.yml", key, why)
        else:
            out.skip("airflow.yml", key, "no sluice equivalent")


def _dbt(cfg: FactoryConfig, project_dir: str, manifest: str | None, out: Imported) -> None:
    dbt = cfg["dbt.yml"]
    section: dict[str, Any] = {"project_dir": project_dir}
    if manifest:
        section["manifest"] = manifest
    if isinstance(dbt.get("target"), str) and not dbt["target"].startswith("{{"):
        section["target"] = dbt["target"]
    out.spec["dbt"] = section
    if "project_dir_path" in dbt:
        out.cover("dbt.yml", "project_dir_path", f"the project is {project_dir} here (--dbt-project)")
    why = {
        "profile_dir_path": "sluice reads profiles from dbt.profiles_dir (default: the project folder)",
        "vars": "sluice passes vars per run (the vars param of a triggered run)",
    }
    for key in sorted(set(dbt) - {"target", "project_dir_path"}):
        out.skip("dbt.yml", key, why.get(key, "no sluice equivalent"))
    env = cfg["execution_env.yml"]
    if env:
        out.skip(
            "execution_env.yml",
            ", ".join(sorted(env)),
            "sluice runs dbt on the Airflow worker, in a warm process or one per task (dbt.execution)",
        )
    for name in ("k8s.yml", "docker.yml", "bash.yml", "datahub.yml", "cosmos.yml"):
        if cfg[name]:
            out.skip(name, ", ".join(sorted(cfg[name])), "no sluice equivalent")


def _ingest(cfg: FactoryConfig, airbyte_config: str, known: set[str], out: Imported) -> None:
    """The Airbyte tasks as ingest connections; ``known``: the connections the sluice Airbyte
    folder describes."""
    ingestion, airbyte = cfg["ingestion.yml"], cfg["airbyte.yml"]
    tasks = [t for t in airbyte.get("tasks") or [] if isinstance(t, Mapping)]
    if not ingestion.get("enable"):
        if tasks:
            out.skip("ingestion.yml", "enable", "ingestion is off, so its Airbyte tasks are not carried over")
        return
    if ingestion.get("engine", "airbyte") != "airbyte":
        out.skip("ingestion.yml", "engine", f"'{ingestion['engine']}': sluice ingests with Airbyte")
        return
    names = [
        identifier(str(t.get("task_id") or t.get("connection_id") or "sync"), "sync")[:200] for t in tasks
    ]
    if not names:
        out.skip("airbyte.yml", "tasks", "ingestion is on but no task is listed")
        return
    section: dict[str, Any] = {"airbyte_config": airbyte_config, "connections": list(dict.fromkeys(names))}
    timeouts = [float(t["timeout"]) for t in tasks if isinstance(t.get("timeout"), int | float)]
    if timeouts:
        section["timeout_minutes"] = math.ceil(max(timeouts) / 60)
    waits = [float(t["wait_seconds"]) for t in tasks if isinstance(t.get("wait_seconds"), int | float)]
    if waits:
        section["poll_seconds"] = max(min(waits), 1)
    if airbyte.get("airbyte_connection_id"):
        section["airbyte_conn_id"] = str(airbyte["airbyte_connection_id"])
    out.spec["ingest"] = section
    for i, (task, name) in enumerate(zip(tasks, names, strict=True)):
        key, connection = f"tasks[{i}].connection_id", task.get("connection_id")
        if name in known:
            out.cover("airbyte.yml", key, f"{connection}: connection '{name}' of {airbyte_config}, by name")
        else:
            out.skip(
                "airbyte.yml",
                key,
                f"{connection}: sluice syncs connections it describes by name: write "
                f"{airbyte_config}/connections/{name}.yaml for it (`sluice airbyte` plans and applies it)",
            )
    for key in ("asyncrounous", "asynchronous", "api_version"):
        if any(key in t for t in tasks):
            out.skip("airbyte.yml", f"tasks[].{key}", "sluice waits for each sync in the triggerer")


def translate(
    cfg: FactoryConfig,
    zones: list[tuple[str, list[str]]],
    *,
    project_dir: str,
    airbyte_config: str,
    connections: Collection[str] = (),
    manifest: str | None = None,
    pipeline: str | None = None,
) -> Imported:
    """The spec of ``cfg`` with ``zones``; paths as the spec writes them (relative to it);
    ``connections``: those the Airbyte folder describes."""
    out = Imported()
    _airflow(cfg, pipeline, out)
    _dbt(cfg, project_dir, manifest, out)
    _ingest(cfg, airbyte_config, set(connections), out)
    out.spec["tests"] = "after_model"
    out.spec["unassigned"] = "error"
    out.spec["zones"] = [{"name": name, "select": selectors} for name, selectors in zones]
    return out


def spec_text(imported: Imported, source: str, notes: list[str]) -> str:
    """The spec's YAML, with what was not carried over as comments at its top."""
    head = [
        "# yaml-language-server: $schema=spec.schema.json",
        f"# Imported by `sluice import-dbt-airflow-factory` from {source}.",
        "# Zones are the factory's save points, in order; `sluice validate` checks every change.",
    ]
    sections = (
        ("Notes", notes),
        ("Done the sluice way", imported.covered),
        ("Not carried over", imported.left_out),
    )
    for title, lines in sections:
        if lines:
            head += ["#", f"# {title}:", *(f"#  - {one_line(line)}" for line in lines)]
    body = yaml.safe_dump(imported.spec, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(head) + "\n" + body
