"""A zone build's result for one dbt node, as the build task publishes it (XCom) and as the node's
own task reads it back in the triggerer: status, dbt's message, seconds, and dbt's lines for the
node, capped so a chatty node cannot fill the metadata database."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: dbt's statuses of a node that did what it was asked (a warn test still passes)
PASSED = frozenset({"success", "pass", "warn"})
#: a node the run's select option leaves out: the zone build skips it, and so does its task
DESELECTED = "deselected"
MAX_LINES = 200
MAX_CHARS = 16_000
#: Airflow keeps an XCom key in 512 characters; an fqn selector can be longer
_MAX_KEY = 250
_PREFIX = "dbt_node:"


def result_key(selector: str) -> str:
    """The XCom key of one node's result, from its fqn selector."""
    key = _PREFIX + selector
    if len(key) <= _MAX_KEY:
        return key
    digest = hashlib.sha256(selector.encode()).hexdigest()[:16]
    return f"{key[: _MAX_KEY - len(digest) - 1]}~{digest}"


def capped(lines: Sequence[str]) -> list[str]:
    """dbt's lines for a node, the first ones kept: a node's start, then its outcome."""
    out: list[str] = []
    size = 0
    for line in lines[:MAX_LINES]:
        size += len(line)
        if size > MAX_CHARS:
            out.append(f"... ({len(lines) - len(out)} more lines of dbt's output not kept)")
            break
        out.append(line)
    else:
        if len(lines) > MAX_LINES:
            out.append(f"... ({len(lines) - MAX_LINES} more lines of dbt's output not kept)")
    return out


def published(message: Mapping[str, Any]) -> dict[str, Any]:
    """What the build task stores for one node the dbt worker finished."""
    return {
        "status": str(message.get("status", "")),
        "message": str(message.get("message") or "")[:MAX_CHARS],
        "seconds": round(float(message.get("seconds") or 0), 3),
        "lines": capped([str(line) for line in message.get("lines") or []]),
    }


def deselected() -> dict[str, Any]:
    """What the build task stores for a node the run's selection leaves out."""
    return {"status": DESELECTED, "message": "not selected in this run", "seconds": 0, "lines": []}


@dataclass(frozen=True)
class Verdict:
    """A task's outcome from its nodes' results."""

    passed: bool
    lines: list[str]
    #: dbt's first error line, for a task that failed
    error: str | None
    #: the run's selection left out every node of the task
    skipped: bool = False


def verdict(results: Mapping[str, Mapping[str, Any]]) -> Verdict:
    """The task passes when every one of its nodes passed in the zone build, and is skipped when
    the run's selection left all of them out."""
    if results and all(r.get("status") == DESELECTED for r in results.values()):
        return Verdict(True, [], None, skipped=True)
    lines: list[str] = []
    error: str | None = None
    for selector, result in results.items():
        lines.extend(str(line) for line in result.get("lines") or [])
        status = str(result.get("status"))
        if status not in PASSED and status != DESELECTED and error is None:
            first = next((s.strip() for s in str(result.get("message") or "").splitlines() if s.strip()), "")
            error = f"{selector} {status}: {first or 'no message from dbt'}"
    return Verdict(error is None, lines, error)
