"""``sluice events validate|schema``: the subcommands, wired into sluice.cli."""

from __future__ import annotations

import argparse
import sys

from sluice.events.config import DEFAULT_DIR


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "events",
        help="check the event streams under event_streams/, or write their editor JSON Schema",
        description="Event streams: files of domain events landing in S3, one YAML file per stream.",
    )
    verbs = p.add_subparsers(dest="verb", required=True)
    for verb, text in (
        ("validate", "check every stream file and the JSON Schema files it names (with their hashes)"),
        ("schema", "write event_stream.schema.json for editor completion"),
    ):
        v = verbs.add_parser(verb, help=text, description=text)
        v.add_argument("--dir", default=DEFAULT_DIR, help=f"the streams folder (default: {DEFAULT_DIR})")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sluice.events.config import load_streams, write_schema

    if args.verb == "schema":
        print(write_schema(Path(args.dir)))
        return 0
    found = load_streams(args.dir)  # SpecErrors: one line per problem, printed by sluice.cli
    print(f"sluice events validate: {len(found.streams)} stream(s) valid", file=sys.stderr)
    return 0
