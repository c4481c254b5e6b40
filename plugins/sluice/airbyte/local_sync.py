"""Where a sync runs, and the local path: a connection's streams handed to the local runner.

Same connection names either way; only the environment decides. ``SLUICE_AIRBYTE_MODE`` is
``server`` or ``local``; unset, it is ``server`` when an Airbyte server is configured
(``AIRBYTE_URL`` or ``SLUICE_AIRBYTE_CONN_ID``) and ``local`` otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from sluice.airbyte import local_connector
from sluice.airbyte.config import AirbyteConfig
from sluice.airbyte.models import NamespaceDefinition, SyncMode
from sluice.errors import AirbyteError, LocalSyncError

MODE_VAR = "SLUICE_AIRBYTE_MODE"
CONN_ID_VAR = "SLUICE_AIRBYTE_CONN_ID"
LOCAL_STATE_VAR = "SLUICE_AIRBYTE_LOCAL_STATE_DIR"
DUCKDB_PATH_VAR = "SLUICE_DUCKDB_PATH"
Mode = Literal["server", "local"]

#: the public API's one-word sync modes, split into the Airbyte protocol's two halves
_LOCAL_MODES: dict[SyncMode, tuple[local_connector.SourceMode, local_connector.DestinationMode]] = {
    SyncMode.FULL_REFRESH_OVERWRITE: ("full_refresh", "overwrite"),
    SyncMode.FULL_REFRESH_APPEND: ("full_refresh", "append"),
    SyncMode.INCREMENTAL_APPEND: ("incremental", "append"),
    SyncMode.INCREMENTAL_DEDUPED_HISTORY: ("incremental", "append_dedup"),
}


def sync_mode(conn_id: str | None = None, env: Mapping[str, str] | None = None) -> Mode:
    env = os.environ if env is None else env
    chosen = env.get(MODE_VAR)
    if chosen:
        if chosen not in ("server", "local"):
            raise AirbyteError(f"{MODE_VAR}={chosen!r}: use server or local")
        return "server" if chosen == "server" else "local"
    return "server" if env.get("AIRBYTE_URL") or conn_id or env.get(CONN_ID_VAR) else "local"


def stream_selections(config: AirbyteConfig, connection: str) -> list[local_connector.StreamSelection]:
    conn = config.connection(connection)
    out = []
    for i, s in enumerate(conn.resource.streams):
        modes = _LOCAL_MODES.get(s.sync_mode)
        if modes is None:
            raise conn.error(
                ("streams", i, "sync_mode"),
                f"{s.sync_mode.value} cannot run locally; use one of "
                + ", ".join(m.value for m in _LOCAL_MODES),
            )
        out.append(
            local_connector.StreamSelection(
                name=s.name,
                sync_mode=modes[0],
                destination_sync_mode=modes[1],
                cursor_field=tuple(s.cursor_field or ()),
                primary_key=tuple(tuple(k) for k in s.primary_key or ()),
            )
        )
    return out


def run_local(
    config: AirbyteConfig,
    connection: str,
    log: Callable[[str], None],
    *,
    duckdb_path: Path | None = None,
    state_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Run the connection's source locally into DuckDB; stream name → rows written."""
    env = os.environ if env is None else env
    conn = config.connection(connection)
    if conn.resource.effective_namespace_definition is not NamespaceDefinition.CUSTOM_FORMAT:
        raise conn.error(("namespace",), "a local sync needs the schema to write to: set namespace")
    configured = duckdb_path or env.get(DUCKDB_PATH_VAR)
    if not configured:
        raise LocalSyncError(
            f"{DUCKDB_PATH_VAR} is not set: a local Airbyte sync needs the DuckDB file to write to"
        )
    target = Path(configured)
    states = state_dir or Path(env.get(LOCAL_STATE_VAR) or target.parent / "airbyte_state")
    source = config.sources[conn.resource.source]
    result = local_connector.run_local_sync(
        connection,
        config.expanded_configuration(source, env),
        stream_selections(config, connection),
        target,
        str(conn.resource.namespace),
        states,
        log,
    )
    return dict(result.rows)  # the runner logged `<stream>: <n> rows` per stream
