"""plan, apply and import: make a workspace match airbyte_config/, or the files match the server.

``plan`` needs no secret: it compares what git says (``${VAR}`` text) with what the server
returns, ignoring masked secrets. ``apply`` expands every reference before its first write, so a
missing variable stops it before anything changes, and a failure half-way says what was applied.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from sluice.airbyte.client import AirbyteApiError, AirbyteClient
from sluice.airbyte.config import AirbyteConfig, ResourceFile, load_resource
from sluice.airbyte.expand import MASK, is_secret
from sluice.airbyte.models import Actor, Connection, Kind, NamespaceDefinition
from sluice.airbyte.state import Entry, State
from sluice.errors import AirbyteError
from sluice.spec.yaml_lines import format_loc

Log = Callable[[str], None]


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"  # git changed since the last apply
    DRIFT = "drift"  # the server changed outside git; apply puts git's version back
    UNCHANGED = "unchanged"


_DONE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DRIFT: "restored from git"}
_MARK = {Action.CREATE: "+", Action.UPDATE: "~", Action.DRIFT: "!", Action.UNCHANGED: "="}


@dataclass
class Change:
    kind: Kind
    name: str
    action: Action
    remote_id: str | None = None
    reasons: list[str] = field(default_factory=list)

    def line(self) -> str:
        why = f": {'; '.join(self.reasons)}" if self.reasons else ""
        return f"{_MARK[self.action]} {self.action.value:<9} {self.kind.value} {self.name}{why}"


def resolve_workspace(client: AirbyteClient) -> str:
    """The configured workspace, else the server's only one."""
    if client.settings.workspace_id:
        return client.settings.workspace_id
    found = client.paged("/workspaces", {})
    if len(found) == 1:
        return str(found[0]["workspaceId"])
    names = ", ".join(f"{w.get('name')} ({w.get('workspaceId')})" for w in found) or "none"
    raise AirbyteError(
        f"Airbyte server {client.settings.url} has {len(found)} workspaces ({names}); "
        "set AIRBYTE_WORKSPACE_ID (or the connection's extra workspace_id)"
    )


def config_diff(local: Any, remote: Any, loc: tuple[str | int, ...] = ("configuration",)) -> list[str]:
    """Where the server's value differs from git's. Secrets are skipped on both sides (git
    holds a reference, the server a mask); keys only the server has are its defaults."""
    if is_secret(local) or remote == MASK:
        return []
    if isinstance(local, dict) and isinstance(remote, dict):
        return [d for k, v in local.items() for d in config_diff(v, remote.get(k, _MISSING), (*loc, k))]
    if isinstance(local, list) and isinstance(remote, list) and len(local) == len(remote):
        return [
            d
            for i, (a, b) in enumerate(zip(local, remote, strict=True))
            for d in config_diff(a, b, (*loc, i))
        ]
    if local != remote:
        shown = "missing" if remote is _MISSING else repr(remote)
        return [f"{format_loc(loc)} is {shown} on the server, {local!r} in git"]
    return []


class _Missing:
    def __repr__(self) -> str:
        return "missing"


_MISSING: Any = _Missing()


def connection_body(conn: Connection, source_id: str, destination_id: str) -> dict[str, Any]:
    """The connection as the public API takes it (ConnectionCreateRequest)."""
    streams = []
    for s in conn.streams:
        stream: dict[str, Any] = {"name": s.name, "syncMode": s.sync_mode.value}
        if s.cursor_field is not None:
            stream["cursorField"] = list(s.cursor_field)
        if s.primary_key is not None:
            stream["primaryKey"] = [list(k) for k in s.primary_key]
        streams.append(stream)
    schedule: dict[str, Any] = {"scheduleType": conn.schedule.type}
    if conn.schedule.cron:
        schedule["cronExpression"] = conn.schedule.cron
    body: dict[str, Any] = {
        "name": conn.resource_name,
        "sourceId": source_id,
        "destinationId": destination_id,
        "configurations": {"streams": streams},
        "schedule": schedule,
        "namespaceDefinition": conn.effective_namespace_definition.value,
        "prefix": conn.prefix,
        "status": conn.status,
    }
    if conn.namespace:
        body["namespaceFormat"] = conn.namespace
    return body


def connection_diff(want: Mapping[str, Any], remote: Mapping[str, Any]) -> list[str]:
    found = []
    for key in (
        "name",
        "sourceId",
        "destinationId",
        "namespaceDefinition",
        "namespaceFormat",
        "prefix",
        "status",
    ):
        if want.get(key) != remote.get(key) and not (
            key == "prefix" and not want.get(key) and not remote.get(key)
        ):
            found.append(f"{key} is {remote.get(key)!r} on the server, {want.get(key)!r} in git")
    schedule = remote.get("schedule") or {}
    if (schedule.get("scheduleType"), schedule.get("cronExpression")) != (
        want["schedule"]["scheduleType"],
        want["schedule"].get("cronExpression"),
    ):
        found.append(f"schedule is {schedule} on the server, {want['schedule']} in git")
    remote_streams = {s["name"]: s for s in (remote.get("configurations") or {}).get("streams") or []}
    wanted = {s["name"]: s for s in want["configurations"]["streams"]}
    for name in sorted(set(remote_streams) - set(wanted)):
        found.append(f"stream {name} is synced on the server, not in git")
    for name, stream in wanted.items():
        there = remote_streams.get(name)
        if there is None:
            found.append(f"stream {name} is not synced on the server")
            continue
        for key, value in stream.items():
            if there.get(key) != value:
                found.append(f"streams.{name}.{key} is {there.get(key)!r} on the server, {value!r} in git")
    return found


class Reconciler:
    """plan and apply for one config folder against one workspace."""

    def __init__(self, config: AirbyteConfig, client: AirbyteClient, state: State) -> None:
        self.config = config
        self.client = client
        self.state = state
        self.workspace_id = state.workspace_id
        self._listed: dict[Kind, list[dict[str, Any]]] = {}
        self._remote_ends: dict[str, tuple[str, str]] = {}  # connection -> its source, destination ids

    # ---- reading the server ----------------------------------------------------------------

    def _list(self, kind: Kind) -> list[dict[str, Any]]:
        if kind not in self._listed:
            self._listed[kind] = self.client.paged(f"/{kind.folder}", {"workspaceIds": self.workspace_id})
        return self._listed[kind]

    def _remote(self, kind: Kind, name: str) -> tuple[dict[str, Any] | None, list[str]]:
        """The remote resource: by the recorded id, else by name."""
        notes: list[str] = []
        entry = self.state.get(kind, name)
        if entry is not None:
            try:
                return self.client.request("GET", f"/{kind.folder}/{entry.id}"), notes
            except AirbyteApiError as exc:
                if exc.status != 404:
                    raise
                notes.append(f"recorded id {entry.id} no longer exists on the server")
        same = [r for r in self._list(kind) if r.get("name") == name]
        if len(same) > 1:
            raise AirbyteError(
                f"Airbyte workspace {self.workspace_id} has {len(same)} {kind.folder} named '{name}'; "
                "rename or delete all but one, then apply again"
            )
        return (same[0] if same else None), notes

    def check_definitions(self) -> None:
        """Every connector definition the files name exists on the server."""
        for kind in (Kind.SOURCE, Kind.DESTINATION):
            for actor in self.config.actors(kind).values():
                d = actor.resource.definition
                try:
                    self.client.request(
                        "GET", f"/workspaces/{self.workspace_id}/definitions/{kind.folder}/{d.id}"
                    )
                except AirbyteApiError as exc:
                    if exc.status != 404:
                        raise
                    raise actor.error(
                        ("definition", "id"),
                        f"no {kind.value} connector definition {d.id} ({d.name}) on Airbyte server "
                        f"{self.client.settings.url}; install the connector or fix the id",
                    ) from None

    # ---- plan ------------------------------------------------------------------------------

    def _action(self, kind: Kind, name: str, local_hash: str, diffs: list[str]) -> Action:
        entry = self.state.get(kind, name)
        if entry is not None and entry.hash != local_hash:
            return Action.UPDATE
        if diffs:
            return Action.DRIFT if entry is not None else Action.UPDATE
        return Action.UNCHANGED

    def _plan_actor(self, actor: ResourceFile[Actor]) -> Change:
        remote, notes = self._remote(actor.kind, actor.name)
        if remote is None:
            return Change(actor.kind, actor.name, Action.CREATE, None, notes)
        rid = str(remote[f"{actor.kind.value}Id"])
        diffs = config_diff(actor.resource.configuration, remote.get("configuration") or {})
        if remote.get("name") != actor.name:
            diffs.insert(0, f"name is {remote.get('name')!r} on the server")
        if remote.get("definitionId") != actor.resource.definition.id:
            diffs.append(f"definition.id is {remote.get('definitionId')} on the server")
        action = self._action(actor.kind, actor.name, actor.config_hash(), diffs)
        if action is Action.UPDATE and not diffs:
            diffs = ["changed in git (secret values or keys the server does not return)"]
        return Change(actor.kind, actor.name, action, rid, diffs)

    def _plan_connection(
        self, conn: ResourceFile[Connection], planned: dict[tuple[Kind, str], Change]
    ) -> Change:
        remote, notes = self._remote(Kind.CONNECTION, conn.name)
        if remote is None:
            return Change(Kind.CONNECTION, conn.name, Action.CREATE, None, notes)
        src = planned[(Kind.SOURCE, conn.resource.source)].remote_id or "(to be created)"
        dst = planned[(Kind.DESTINATION, conn.resource.destination)].remote_id or "(to be created)"
        diffs = connection_diff(connection_body(conn.resource, src, dst), remote)
        rid = str(remote["connectionId"])
        self._remote_ends[conn.name] = (str(remote.get("sourceId")), str(remote.get("destinationId")))
        return Change(
            Kind.CONNECTION,
            conn.name,
            self._action(Kind.CONNECTION, conn.name, conn.config_hash(), diffs),
            rid,
            diffs,
        )

    def plan(self) -> list[Change]:
        self.check_definitions()
        planned: dict[tuple[Kind, str], Change] = {}
        for kind in (Kind.SOURCE, Kind.DESTINATION):
            for actor in self.config.actors(kind).values():
                planned[(kind, actor.name)] = self._plan_actor(actor)
        for conn in self.config.connections.values():
            planned[(Kind.CONNECTION, conn.name)] = self._plan_connection(conn, planned)
        return list(planned.values())

    # ---- apply -----------------------------------------------------------------------------

    def apply(self, log: Log, env: Mapping[str, str] | None = None) -> list[Change]:
        """Create or update what differs, recording ids and hashes as each write succeeds."""
        configs = {
            (kind, a.name): self.config.expanded_configuration(a, env)
            for kind in (Kind.SOURCE, Kind.DESTINATION)
            for a in self.config.actors(kind).values()
        }
        changes = self.plan()
        done: list[str] = []
        ids: dict[tuple[Kind, str], str] = {}
        for change in changes:
            try:
                ids[(change.kind, change.name)] = self._apply_one(change, configs, ids)
            except AirbyteError as exc:
                before = ", ".join(done) or "nothing"
                rest = ", ".join(
                    f"{c.kind.value} {c.name}"
                    for c in changes[changes.index(change) :]
                    if c.action is not Action.UNCHANGED
                )
                raise AirbyteError(
                    f"{exc} — applied before the failure: {before}; not applied: {rest}"
                ) from None
            if change.action is not Action.UNCHANGED:
                done.append(f"{change.kind.value} {change.name} ({_DONE[change.action]})")
            log(change.line())
        return changes

    def _apply_one(
        self, change: Change, configs: Mapping[tuple[Kind, str], Any], ids: Mapping[tuple[Kind, str], str]
    ) -> str:
        kind, name = change.kind, change.name
        if kind is Kind.CONNECTION:
            conn = self.config.connections[name]
            body = connection_body(
                conn.resource,
                ids[(Kind.SOURCE, conn.resource.source)],
                ids[(Kind.DESTINATION, conn.resource.destination)],
            )
            local_hash = conn.config_hash()
            if change.action is Action.CREATE:
                rid = str(self.client.request("POST", "/connections", json=body)["connectionId"])
            else:
                rid = str(change.remote_id)
                ends = (body["sourceId"], body["destinationId"])
                if self._remote_ends.get(name, ends) != ends:
                    raise conn.error(
                        ("source",),
                        f"connection {name} on the server links other source/destination ids than git's "
                        f"{conn.resource.source} and {conn.resource.destination}, and a connection's ends "
                        "cannot change: delete it on the server, then apply again",
                    )
                if change.action is not Action.UNCHANGED:
                    patch = {k: v for k, v in body.items() if k not in ("sourceId", "destinationId")}
                    self.client.request("PATCH", f"/connections/{rid}", json=patch)
        else:
            actor = self.config.actors(kind)[name]
            local_hash = actor.config_hash()
            configuration = configs[(kind, name)]
            if change.action is Action.CREATE:
                body = {
                    "name": name,
                    "workspaceId": self.workspace_id,
                    "definitionId": actor.resource.definition.id,
                    "configuration": configuration,
                }
                rid = str(self.client.request("POST", f"/{kind.folder}", json=body)[f"{kind.value}Id"])
            else:
                rid = str(change.remote_id)
                if change.action is not Action.UNCHANGED:
                    body = {"name": name, "configuration": configuration}
                    self.client.request("PUT", f"/{kind.folder}/{rid}", json=body)
        self.state.record(kind, name, Entry(rid, local_hash))
        return rid


# ---- import --------------------------------------------------------------------------------

_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def resource_name(remote_name: str) -> str:
    slug = _SLUG.sub("_", remote_name).strip("_") or "unnamed"
    return slug if slug[0].isalpha() else f"r_{slug}"


def placeholders(config: Any, prefix: str) -> Any:
    """The remote configuration with each masked secret replaced by a ``${VAR}`` reference."""
    if isinstance(config, dict):
        return {k: placeholders(v, f"{prefix}_{k}") for k, v in config.items()}
    if isinstance(config, list):
        return [placeholders(v, f"{prefix}_{i}") for i, v in enumerate(config)]
    if config == MASK:
        return "${" + re.sub(r"[^A-Za-z0-9]+", "_", prefix).upper().strip("_") + "}"
    return config


@dataclass
class Imported:
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _write(path: Path, data: Mapping[str, Any], kind: Kind) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# yaml-language-server: $schema={kind.value}.schema.json\n"
        "# imported from the Airbyte server by sluice airbyte import\n"
    )
    path.write_text(
        header + yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True), encoding="utf-8"
    )


def import_remote(config: AirbyteConfig, client: AirbyteClient, state: State) -> Imported:
    """Write a file for every remote resource that has none; secrets become ``${...}``."""
    out = Imported()
    ws = state.workspace_id
    names: dict[str, str] = {}  # remote id -> resource name, for connections
    for kind in (Kind.SOURCE, Kind.DESTINATION):
        local = config.actors(kind)
        for remote in client.paged(f"/{kind.folder}", {"workspaceIds": ws}):
            rid = str(remote[f"{kind.value}Id"])
            name = resource_name(str(remote["name"]))
            names[rid] = name
            if name in local:
                out.skipped.append(f"{kind.value} {name}: {local[name].path} exists")
                continue
            definition = client.request(
                "GET", f"/workspaces/{ws}/definitions/{kind.folder}/{remote['definitionId']}"
            )
            data = {
                "resource_name": name,
                "definition": {"id": remote["definitionId"], "name": definition["name"]},
                "configuration": placeholders(remote.get("configuration") or {}, name),
            }
            path = config.directory / kind.folder / f"{name}.yaml"
            _write(path, data, kind)
            state.record(kind, name, Entry(rid, load_resource(path, kind).config_hash()))
            out.written.append(path)
    for remote in client.paged("/connections", {"workspaceIds": ws}):
        name = resource_name(str(remote["name"]))
        if name in config.connections:
            out.skipped.append(f"connection {name}: {config.connections[name].path} exists")
            continue
        data = _connection_yaml(remote, name, names)
        path = config.directory / Kind.CONNECTION.folder / f"{name}.yaml"
        _write(path, data, Kind.CONNECTION)
        state.record(
            Kind.CONNECTION,
            name,
            Entry(str(remote["connectionId"]), load_resource(path, Kind.CONNECTION).config_hash()),
        )
        out.written.append(path)
    return out


def _connection_yaml(remote: Mapping[str, Any], name: str, names: Mapping[str, str]) -> dict[str, Any]:
    streams = []
    for s in (remote.get("configurations") or {}).get("streams") or []:
        stream: dict[str, Any] = {
            "name": s["name"],
            "sync_mode": s.get("syncMode") or "full_refresh_overwrite",
        }
        if s.get("cursorField"):
            stream["cursor_field"] = list(s["cursorField"])
        if s.get("primaryKey"):
            stream["primary_key"] = [list(k) for k in s["primaryKey"]]
        streams.append(stream)
    schedule = remote.get("schedule") or {}
    data: dict[str, Any] = {
        "resource_name": name,
        "source": names.get(str(remote["sourceId"]), str(remote["sourceId"])),
        "destination": names.get(str(remote["destinationId"]), str(remote["destinationId"])),
    }
    definition = remote.get("namespaceDefinition") or "destination"
    if definition == NamespaceDefinition.CUSTOM_FORMAT.value:
        data["namespace"] = remote.get("namespaceFormat")
    else:
        data["namespace_definition"] = definition
    if remote.get("prefix"):
        data["prefix"] = remote["prefix"]
    if remote.get("status") == "inactive":
        data["status"] = "inactive"
    if schedule.get("scheduleType") == "cron":
        data["schedule"] = {"type": "cron", "cron": schedule.get("cronExpression")}
    else:
        data["schedule"] = {"type": "manual"}
    data["streams"] = streams
    return data
