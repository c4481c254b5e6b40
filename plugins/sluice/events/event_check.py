"""Each event against the JSON Schema of its version: a valid event becomes a raw row, any other
a quarantined one with the reason."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sluice.events.models import EventStream
from sluice.events.object_formats import Record

MAX_REASON = 1000


@dataclass(frozen=True)
class Row:
    """A valid event, as the raw table holds it."""

    number: int
    version: int
    occurred_at: str  # ISO 8601 with its offset
    event: str  # the event as JSON


@dataclass(frozen=True)
class Rejected:
    """An event that may not be loaded, and why."""

    number: int
    reason: str
    raw: str


@dataclass
class Checked:
    rows: list[Row] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _event_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class EventChecker:
    """Validators for every version of a stream's schema, compiled once per load."""

    def __init__(self, stream: EventStream, schemas: Mapping[int, dict[str, Any]]) -> None:
        from jsonschema.validators import validator_for

        self.stream = stream
        self.validators = {v: validator_for(s)(s) for v, s in schemas.items()}

    def version_of(self, event: Mapping[str, Any]) -> tuple[int | None, str | None]:
        field_name = self.stream.version_field
        if field_name is None:
            return self.stream.latest, None
        value = event.get(field_name)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value not in self.validators:
            known = ", ".join(map(str, sorted(self.validators)))
            shown = json.dumps(value)[:80]
            return None, f"{field_name}: {shown} is not a schema version of this stream (known: {known})"
        return value, None

    def check(self, record: Record) -> Row | Rejected:
        if record.event is None:
            return Rejected(record.number, str(record.problem), record.raw)
        event = record.event
        version, problem = self.version_of(event)
        if version is None:
            return Rejected(record.number, str(problem), record.raw)
        errors = sorted(self.validators[version].iter_errors(event), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(event)"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            reason = f"schema v{version}: {where}: {first.message}{more}"
            return Rejected(record.number, reason[:MAX_REASON], record.raw)
        when = _event_time(event.get(self.stream.event_time_field))
        if when is None:
            reason = f"{self.stream.event_time_field}: missing or not an ISO 8601 time"
            return Rejected(record.number, reason, record.raw)
        return Row(record.number, version, when.isoformat(), json.dumps(event, separators=(",", ":")))

    def check_all(self, found: Iterable[Record]) -> Checked:
        out = Checked()
        for record in found:
            result = self.check(record)
            if isinstance(result, Row):
                out.rows.append(result)
            else:
                out.rejected.append(result)
        return out
