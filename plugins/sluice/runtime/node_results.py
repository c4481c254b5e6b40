"""A zone build's result for each dbt node, as the build task publishes them (XCom) and as the
nodes' own tasks read them back in the triggerer: status, dbt's message, seconds, and dbt's lines
for the node, capped so a chatty node cannot fill the metadata database.

Results travel in chunks: the build pushes what finished since its last push, at most every
FLUSH_SECONDS, then a head naming how many chunks there are. A reader reads the head and only the
chunks it has not read, once per poll for every task waiting on that build: a zone of n nodes
costs about one push and one read per quarter second, not one per node per waiting task."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: dbt's statuses of a node that did what it was asked (a warn test still passes)
PASSED = frozenset({"success", "pass", "warn"})
#: a node the run's select option leaves out: the zone build skips it, and so does its task
DESELECTED = "deselected"
MAX_LINES = 200
MAX_CHARS = 16_000
#: the XCom key of a zone build's head: {"chunks": how many, "try": the build's try number}
HEAD_KEY = "dbt_results"
#: at most one chunk per this many seconds (a zone's tests finish dozens a second)
FLUSH_SECONDS = 0.25


def chunk_key(index: int) -> str:
    """The XCom key of a zone build's ``index``-th chunk of results."""
    return f"{HEAD_KEY}:{index}"


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


class Outbox:
    """The build task's side: results collected and pushed (``push(key, value)``) in chunks."""

    def __init__(
        self,
        push: Callable[[str, Any], None],
        try_number: int,
        clock: Callable[[], float] = time.monotonic,
        lineage: dict[str, Any] | None = None,
    ) -> None:
        self._push, self._try, self._clock = push, try_number, clock
        #: what the readers need to send each task's lineage (sluice.airflow.lineage.build_context)
        self._lineage = lineage
        self._pending: dict[str, dict[str, Any]] = {}
        self._chunks = 0
        self._flushed = clock()
        self._push_head()

    def _push_head(self) -> None:
        head: dict[str, Any] = {"chunks": self._chunks, "try": self._try}
        if self._lineage:
            head["lineage"] = self._lineage
        self._push(HEAD_KEY, head)

    def add(self, selector: str, result: dict[str, Any]) -> None:
        self._pending[selector] = result
        self.tick()

    def tick(self) -> None:
        """Push what is pending when the last push is FLUSH_SECONDS old (called on every message)."""
        if self._pending and self._clock() - self._flushed >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        self._push(chunk_key(self._chunks), self._pending)
        self._chunks += 1
        self._pending = {}
        self._push_head()
        self._flushed = self._clock()


@dataclass
class Inbox:
    """The readers' side: every result one zone build has published so far."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    chunks: int = 0
    try_number: int | None = None
    #: the build's lineage context, when it sends lineage
    lineage: dict[str, Any] | None = None

    def wanted(self, head: Any) -> range:
        """The chunks to read after reading ``head``; a new try of the build starts over."""
        if not isinstance(head, dict) or not isinstance(head.get("chunks"), int):
            return range(0)
        self.lineage = head["lineage"] if isinstance(head.get("lineage"), dict) else None
        if head.get("try") != self.try_number or head["chunks"] < self.chunks:
            self.results, self.chunks, self.try_number = {}, 0, head.get("try")
        return range(self.chunks, head["chunks"])

    def take(self, index: int, chunk: Any) -> bool:
        """Add chunk ``index``; False (and nothing added) when it is not the next one or not a chunk."""
        if index != self.chunks or not isinstance(chunk, dict):
            return False
        self.results.update((str(k), v) for k, v in chunk.items() if isinstance(v, dict))
        self.chunks += 1
        return True
