"""``sluice airbyte plan|apply|import|schema``: the subcommands, wired into sluice.cli."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sluice.settings import DEFAULT_AIRBYTE_CONFIG_DIR

if TYPE_CHECKING:
    from sluice.airbyte.client import AirbyteClient


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "airbyte",
        help="plan, apply or import Airbyte sources, destinations and connections",
        description="Keep Airbyte resources as YAML under airbyte_config/ and apply them through "
        "the public API. The server comes from AIRBYTE_URL with AIRBYTE_CLIENT_ID/AIRBYTE_CLIENT_SECRET "
        "(token URL: AIRBYTE_TOKEN_URL) or AIRBYTE_USERNAME/AIRBYTE_PASSWORD; the workspace from "
        "AIRBYTE_WORKSPACE_ID, else the server's only one.",
    )
    verbs = p.add_subparsers(dest="verb", required=True)
    for verb, text in (
        ("plan", "show what apply would create, update or leave alone, and drift on the server"),
        ("apply", "make the workspace match the files (idempotent)"),
        ("import", "write files for remote resources that have none (secrets as ${...})"),
        ("schema", "write the JSON Schemas of the three folders for editor completion"),
    ):
        v = verbs.add_parser(verb, help=text, description=text)
        v.add_argument(
            "--dir",
            default=None,
            help=f"config folder (default: $SLUICE_AIRBYTE_CONFIG_DIR, else {DEFAULT_AIRBYTE_CONFIG_DIR})",
        )


def _client() -> AirbyteClient:
    # imported here: every other sluice command starts without httpx
    from sluice.airbyte.client import AirbyteClient, RetryPolicy, ServerSettings
    from sluice.errors import AirbyteError

    settings = ServerSettings.from_env()
    if settings is None:
        raise AirbyteError("no Airbyte server: set AIRBYTE_URL (and credentials) to plan, apply or import")
    # a person waits at the terminal: a short backoff (1 s, 2 s) before saying the server is down
    return AirbyteClient(settings, retry=RetryPolicy(attempts=3, backoff_s=1.0))


def run(args: argparse.Namespace) -> int:
    from sluice.airbyte.config import config_dir, load_config
    from sluice.airbyte.reconcile import Action, Reconciler, import_remote, resolve_workspace
    from sluice.airbyte.schema import write_schemas
    from sluice.airbyte.state import load_state

    root = config_dir(args.dir)
    if args.verb == "schema":
        for path in write_schemas(root):
            print(path)
        return 0
    config = load_config(root)
    with _client() as client:
        workspace = resolve_workspace(client)
        state = load_state(root, workspace, client.settings.url)
        if args.verb == "import":
            done = import_remote(config, client, state)
            for path in done.written:
                print(f"wrote {path}")
            for line in done.skipped:
                print(f"skipped {line}")
            return 0
        reconciler = Reconciler(config, client, state)
        if args.verb == "plan":
            changes = reconciler.plan()
            for change in changes:
                print(change.line())
            todo = sum(c.action is not Action.UNCHANGED for c in changes)
            print(
                f"workspace {workspace}: {todo} to change, {len(changes) - todo} unchanged", file=sys.stderr
            )
            return 0
        changes = reconciler.apply(print)
        todo = sum(c.action is not Action.UNCHANGED for c in changes)
        print(f"workspace {workspace}: {todo} changed; state in {Path(state.path)}", file=sys.stderr)
        return 0
