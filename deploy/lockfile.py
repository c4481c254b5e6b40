"""requirements.lock read as a dependency graph: the pins and, from uv's `# via` notes, who needs what.

The MWAA constraints file and the dbt virtualenv's requirements are both "the pins of what these
packages need", and the lock already says it; reading it keeps them in step with what the tests
ran, without a resolver or a network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sluice.errors import DeployError

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#]+)")
_VIA = re.compile(r"^\s+#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*$")


def normalize(name: str) -> str:
    """PEP 503 name: case and runs of -_. do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Lock:
    path: Path
    pins: dict[str, str] = field(default_factory=dict)
    """normalized name -> version"""
    needed_by: dict[str, set[str]] = field(default_factory=dict)
    """normalized name -> the locked packages that require it"""

    def version(self, name: str) -> str:
        try:
            return self.pins[normalize(name)]
        except KeyError:
            raise DeployError(
                f"{self.path}: {name} is not pinned; add it to requirements.txt and run make lock"
            ) from None

    def closure(self, roots: Iterable[str]) -> set[str]:
        """The roots and every locked package they need, directly or not."""
        needs: dict[str, set[str]] = {}
        for child, parents in self.needed_by.items():
            for parent in parents:
                needs.setdefault(parent, set()).add(child)
        todo = [normalize(r) for r in roots]
        for root in todo:
            self.version(root)
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(needs.get(name, ()))
        return seen

    def pin_lines(self, names: Iterable[str]) -> list[str]:
        return [f"{name}=={self.pins[name]}" for name in sorted(names)]


def read_lock(path: Path) -> Lock:
    """Parse a `uv pip compile` output with its default `# via` annotations."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeployError(f"{path}: cannot read the lock file ({exc.strerror})") from None
    lock = Lock(path)
    current: str | None = None
    for line in text.splitlines():
        pin = _PIN.match(line)
        if pin:
            current = normalize(pin.group(1))
            lock.pins[current] = pin.group(3)
            lock.needed_by.setdefault(current, set())
            continue
        via = _VIA.match(line)
        if via and current is not None and via.group(1) != "via":
            lock.needed_by[current].add(normalize(via.group(1)))
    if not lock.pins:
        raise DeployError(f"{path}: no pinned package found; run make lock")
    return lock
