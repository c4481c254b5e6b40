"""Strict ``${VAR}`` references: a value holding one is a secret, expanded only when sent.

An unset variable is an error, never sent literally; ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sluice.errors import AirbyteError

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MASK = "**********"

Loc = tuple[str | int, ...]
ErrorAt = Callable[[Loc, str], AirbyteError]


def references(value: str) -> list[str]:
    """Variable names referenced by ``value`` (``$${`` escapes excluded); a malformed reference
    is returned as written so the caller can report it."""
    return [m.group(1) for m in _REF.finditer(value) if m.group(0) != "$${"]


def is_secret(value: Any) -> bool:
    return isinstance(value, str) and bool(references(value))


def check_references(config: Any, loc: Loc, error: ErrorAt) -> None:
    """Every reference names a variable (``${NAME}``); the values are not looked at."""
    for path, value in walk(config, loc):
        if isinstance(value, str):
            for name in references(value):
                if not _VAR.match(name):
                    raise error(path, f"'${{{name}}}' is not a variable reference; write ${{NAME}}")


def expand(config: Any, env: Mapping[str, str], loc: Loc, error: ErrorAt) -> Any:
    """``config`` with every reference replaced by its variable's value."""
    if isinstance(config, dict):
        return {k: expand(v, env, (*loc, k), error) for k, v in config.items()}
    if isinstance(config, list):
        return [expand(v, env, (*loc, i), error) for i, v in enumerate(config)]
    if not isinstance(config, str):
        return config

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name not in env:
            raise error(loc, f"${{{name}}} is not set; export {name} (it is never sent unexpanded)")
        return env[name]

    return _REF.sub(one, config)


def walk(config: Any, loc: Loc = ()) -> list[tuple[Loc, Any]]:
    """Every leaf of a JSON-like value with its path."""
    if isinstance(config, dict):
        return [leaf for k, v in config.items() for leaf in walk(v, (*loc, k))]
    if isinstance(config, list):
        return [leaf for i, v in enumerate(config) for leaf in walk(v, (*loc, i))]
    return [(loc, config)]
