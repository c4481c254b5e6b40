"""Read terraform files for the policy tests: python-hcl2's parse, with quoting made explicit.

python-hcl2 keeps a string literal in its quotes (``'"dev"'``) and writes an expression as
``'${...}'``; :func:`literal` tells the two apart, which is what the secret scan needs: a
literal is written in the repository, an expression is filled in at plan time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False)


def unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def literal(value: Any) -> str | None:
    """The text of a string literal without interpolation; None for an expression or non-string."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' and "${" not in value:
        return value[1:-1]
    return None


def load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return dict(hcl2.load(handle, serialization_options=_OPTIONS))


@dataclass(frozen=True)
class Block:
    """A resource or data block: ``kind`` is "resource" or "data"."""

    kind: str
    type: str
    name: str
    body: dict[str, Any]
    path: Path

    @property
    def address(self) -> str:
        prefix = "data." if self.kind == "data" else ""
        return f"{prefix}{self.type}.{self.name}"


class Config:
    """Every .tf file of one folder (a module or an env), as terraform would combine them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = {p: load(p) for p in sorted(folder.glob("*.tf"))}

    def blocks(self, kind: str = "resource") -> Iterator[Block]:
        for path, doc in self.files.items():
            for entry in doc.get(kind, []):
                for rtype, named in entry.items():
                    for name, body in named.items():
                        yield Block(kind, unquote(rtype), unquote(name), body, path)

    def find(self, rtype: str, kind: str = "resource") -> list[Block]:
        return [b for b in self.blocks(kind) if b.type == rtype]

    def get(self, address: str) -> Block:
        for kind in ("resource", "data"):
            for block in self.blocks(kind):
                if block.address == address:
                    return block
        raise KeyError(f"{self.folder}: no {address}")

    def terraform_blocks(self) -> list[dict[str, Any]]:
        return [t for doc in self.files.values() for t in doc.get("terraform", [])]


def reference(expression: Any, attribute: str) -> str:
    """``${aws_s3_bucket.source.arn}`` with attribute "arn" -> ``aws_s3_bucket.source``."""
    if not (isinstance(expression, str) and expression.startswith("${") and expression.endswith("}")):
        raise ValueError(f"not a plain reference: {expression!r}")
    inner = expression[2:-1]
    suffix = f".{attribute}"
    if not inner.endswith(suffix):
        raise ValueError(f"{expression!r} does not refer to .{attribute}")
    return inner[: -len(suffix)]
