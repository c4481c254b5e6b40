"""What apply knows about a workspace: resource name → remote id and configuration hash.

One JSON file per workspace under ``<config dir>/state/`` (or $SLUICE_AIRBYTE_STATE_DIR). It
holds ids and hashes of the configuration as written (``${VAR}`` text, never a value), so it is
safe to commit; the sync operator reads it to find a connection's id without an API call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.airbyte.models import Kind
from sluice.errors import AirbyteError
from sluice.settings import settings


@dataclass(frozen=True)
class Entry:
    id: str
    hash: str


@dataclass
class State:
    path: Path
    workspace_id: str
    server: str
    resources: dict[Kind, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in Kind})

    def get(self, kind: Kind, name: str) -> Entry | None:
        return self.resources[kind].get(name)

    def record(self, kind: Kind, name: str, entry: Entry) -> None:
        self.resources[kind][name] = entry
        self.save()

    def forget(self, kind: Kind, name: str) -> None:
        if self.resources[kind].pop(name, None) is not None:
            self.save()

    def save(self) -> None:
        data: dict[str, Any] = {
            "workspace_id": self.workspace_id,
            "server": self.server,
            **{
                kind.folder: {
                    n: {"id": e.id, "hash": e.hash} for n, e in sorted(self.resources[kind].items())
                }
                for kind in Kind
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.path)


def state_dir(config_dir: Path) -> Path:
    return settings().airbyte_state_dir or config_dir / "state"


def state_path(config_dir: Path, workspace_id: str) -> Path:
    return state_dir(config_dir) / f"{workspace_id}.json"


def load_state(config_dir: Path, workspace_id: str, server: str) -> State:
    path = state_path(config_dir, workspace_id)
    state = State(path, workspace_id, server)
    if not path.exists():
        return state
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        for kind in Kind:
            for name, entry in data.get(kind.folder, {}).items():
                state.resources[kind][name] = Entry(str(entry["id"]), str(entry["hash"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AirbyteError(
            f"{path}: unreadable Airbyte state file ({exc}); delete it and re-run apply"
        ) from None
    return state


def find_connection_id(config_dir: Path, name: str, workspace_id: str | None) -> str | None:
    """The id apply recorded for connection ``name``: in the workspace's file when the
    workspace is known, else in the only state file there is."""
    folder = state_dir(config_dir)
    if workspace_id:
        files = [state_path(config_dir, workspace_id)]
    else:
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if len(files) != 1:
            return None
    for path in files:
        if path.exists():
            state = load_state(config_dir, path.stem, "")
            entry = state.get(Kind.CONNECTION, name)
            if entry:
                return entry.id
    return None
