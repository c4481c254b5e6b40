"""Where a sync runs, and the local path: a connection's streams handed to the local runner.

Same connection names either way; only the settings decide. ``SLUICE_AIRBYTE_MODE`` is
``server`` or ``local``; unset, it is ``server`` when an Airbyte server is configured
(``SLUICE_AIRBYTE_CONN_ID``, ``AIRBYTE_URL`` or the spec's ``ingest.airbyte_conn_id``) and
``local`` otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from sluice.airbyte import local_connector
from sluice.airbyte.config import AirbyteConfig
from sluice.airbyte.models import NamespaceDefinition, SyncMode
from sluice.errors import LocalSyncError
from sluice.settings import AirbyteMode, Settings, settings

#: the public API's one-word sync modes, split into the Airbyte protocol's two halves
_LOCAL_MODES: dict[SyncMode, tuple[local_connector.SourceMode, local_connector.DestinationMode]] = {
    SyncMode.FULL_REFRESH_OVERWRITE: ("full_refresh", "overwrite"),
    SyncMode.FULL_REFRESH_APPEND: ("full_refresh", "append"),
    SyncMode.INCREMENTAL_APPEND: ("incremental", "append"),
    SyncMode.INCREMENTAL_DEDUPED_HISTORY: ("incremental", "append_dedup"),
}


def sync_mode(conn_id: str | None = None, env: Mapping[str, str] | None = None) -> AirbyteMode:
    """Where a sync of a connection runs; ``conn_id`` is the spec's ``ingest.airbyte_conn_id``."""
    return (settings() if env is None else Settings.from_env(env)).airbyte_mode(conn_id)


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
    configured = settings() if env is None else Settings.from_env(env)
    env = os.environ if env is None else env  # also what the source's ${VAR} references read
    conn = config.connection(connection)
    if conn.resource.effective_namespace_definition is not NamespaceDefinition.CUSTOM_FORMAT:
        raise conn.error(("namespace",), "a local sync needs the schema to write to: set namespace")
    target = duckdb_path or configured.duckdb_path
    if target is None:
        raise LocalSyncError(
            "SLUICE_DUCKDB_PATH is not set: a local Airbyte sync needs the DuckDB file to write to"
        )
    states = state_dir or configured.airbyte_local_state_dir or target.parent / "airbyte_state"
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
