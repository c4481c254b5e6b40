"""Read a YAML file safely, with the line of every key: what specs and Airbyte files go through.

Airflow imports the DAG folder every 30 seconds, so no file may cost it more than a moment or
take it down. A file is refused, with one line naming it, when it is too big, not UTF-8 text,
nested too deep, or expands through aliases into more nodes than any real spec has (a 1 KB
"billion laughs" file expands to 9^9 nodes). Dates stay strings, so an impossible date is a
validation error at its key, not a crash of the YAML loader; merge keys (``<<: *defaults``) work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from sluice.errors import SpecError, first_line

Loc = tuple[str | int, ...]

#: the biggest spec or Airbyte file read; real ones are a few KB
MAX_BYTES = 1 << 20
#: YAML nodes after alias expansion; the demo spec has ~150
MAX_NODES = 100_000
MAX_DEPTH = 64
MERGE_KEY = "<<"


def display_path(path: Path) -> str:
    """The path as a user typed it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (OSError, ValueError, RuntimeError):
        return str(path)


def format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(lines: Mapping[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest key of ``loc`` that the file spells out."""
    for end in range(len(loc), 0, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return lines.get(())


class _LineLoader(yaml.SafeLoader):
    """The safe loader, with dates left as strings (pydantic parses them at their key), and a
    depth limit checked while composing, before Python's own recursion limit is reached."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Refused(mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Refused(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        self.line = line
        self.message = message


class _Indexer:
    """Walks the node tree once (aliases expanded) to record each key's line, refusing an
    expansion past MAX_NODES before anything else walks it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: dict[Loc, int] = {}
        self.visited = 0

    def index(self, node: yaml.Node, loc: Loc) -> None:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise _Refused(
                node.start_mark.line + 1, f"expands to more than {MAX_NODES:,} YAML nodes (aliases?)"
            )
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            self._mapping(node, loc)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.index(item, (*loc, i))

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> None:
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key == MERGE_KEY and key_node.tag == "tag:yaml.org,2002:merge":
                self.index(value_node, loc)  # merged keys stand where the merge is written
                continue
            if key in seen:
                raise SpecError(
                    self.path, key_node.start_mark.line + 1, format_loc((*loc, key)), "key appears twice"
                )
            seen.add(key)
            self.lines[(*loc, key)] = key_node.start_mark.line + 1
            self.index(value_node, (*loc, key))


def _text(path: Path, shown: str) -> str:
    try:
        if not path.is_file():
            raise SpecError(shown, None, "", "not a regular file")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SpecError(shown, None, "", f"the file is {size:,} bytes; the limit is {MAX_BYTES:,}")
        raw = path.read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        raise SpecError(shown, None, "", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")  # a UTF-8 byte order mark is harmless
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(
            shown, line, "", f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse one YAML document, returning its data and a map of key path to line.

    Raises SpecError naming the file (and line) for anything it cannot read.
    """
    shown = display_path(path)
    text = _text(path, shown)
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        indexer = _Indexer(shown)
        indexer.index(node, ())
        # constructing shares aliased objects, so it costs what the file holds, not the expansion
        return loader.construct_document(node), indexer.lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError(shown, line, "", f"invalid YAML: {exc.problem or exc.context}") from None
    except _Refused as exc:
        raise SpecError(shown, exc.line, "", f"refused: {exc.message}") from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        # e.g. an integer of more digits than Python converts
        raise SpecError(shown, None, "", f"invalid YAML: {first_line(exc)}") from None
    finally:
        loader.dispose()
