"""A zone's source freshness check: `dbt source freshness` over the sources it reads, judged by
dbt's own thresholds. A source past warn_after is logged and the task goes on; one past
error_after, or one dbt could not check, fails the task with one line naming it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sluice.errors import DbtCommandError, SluiceError, one_line
from sluice.runtime.dbt import DbtProcess

Log = Callable[[str], None]

#: dbt's statuses of one source (sources.json); "runtime error": dbt could not read its age
PASS, WARN, ERROR, RUNTIME_ERROR = "pass", "warn", "error", "runtime error"
_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class StaleSourceError(SluiceError):
    """A source is older than its error_after: running the check again cannot make it fresher."""


@dataclass(frozen=True)
class SourceAge:
    """One source's result, as dbt's sources.json gives it."""

    source: str
    status: str
    max_loaded_at: str | None = None
    age_seconds: float | None = None
    warn_after: Mapping[str, Any] | None = None
    error_after: Mapping[str, Any] | None = None
    error: str | None = None

    def _age(self, unit: Mapping[str, Any] | None) -> str:
        """The age in the unit of the threshold it is held against (hours beside ``24 hours``)."""
        period = str((unit or {}).get("period") or "hour")
        value = (self.age_seconds or 0.0) / _SECONDS.get(period, 3600)
        return f"{value:.1f} {period}s"

    def describe(self) -> str:
        """One line: the source, how old its newest row is, and the threshold it is held to."""
        if self.status == RUNTIME_ERROR:
            lines = (self.error or "").strip().splitlines() or ["no message"]
            return f"source {self.source}: dbt could not check its freshness: {one_line(lines[0][:300])}"
        limit = self.error_after if self.status == ERROR or not _is_set(self.warn_after) else self.warn_after
        text = f"source {self.source} is {self._age(limit)} old (newest row loaded at {self.max_loaded_at})"
        if self.status == ERROR:
            return f"{text}, past error_after {_rule(self.error_after)}"
        if self.status == WARN:
            return f"{text}, past warn_after {_rule(self.warn_after)}; error_after {_rule(self.error_after)}"
        return f"{text}: fresh (warn_after {_rule(self.warn_after)}, error_after {_rule(self.error_after)})"


def _is_set(threshold: Mapping[str, Any] | None) -> bool:
    """dbt writes a threshold that is not set as ``{count: null, period: null}``."""
    if not threshold:
        return False
    return threshold.get("count") is not None and bool(threshold.get("period"))


def _rule(threshold: Mapping[str, Any] | None) -> str:
    if threshold is None or not _is_set(threshold):
        return "none"
    count = threshold["count"]
    return f"{count} {threshold['period']}{'' if count == 1 else 's'}"


def _name(unique_id: str) -> str:
    """``source.shop.raw.users`` → ``raw.users``: the source and table names a user wrote."""
    return unique_id.split(".", 2)[-1]


def read_ages(artifact: Mapping[str, Any]) -> list[SourceAge]:
    """Each source's result from dbt's sources.json (or the worker's copy of it)."""
    ages: list[SourceAge] = []
    for row in artifact.get("results") or ():
        if not isinstance(row, Mapping) or not isinstance(row.get("unique_id"), str):
            continue
        found = row.get("criteria")
        criteria: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        age = row.get("max_loaded_at_time_ago_in_s")
        ages.append(
            SourceAge(
                source=_name(row["unique_id"]),
                status=str(row.get("status") or ""),
                max_loaded_at=row.get("max_loaded_at"),
                age_seconds=float(age) if isinstance(age, int | float) else None,
                warn_after=criteria.get("warn_after"),
                error_after=criteria.get("error_after"),
                error=row.get("error"),
            )
        )
    return sorted(ages, key=lambda a: a.source)


def _unreported(selected: tuple[str, ...], ages: list[SourceAge], lines: list[str]) -> list[SourceAge]:
    """Sources dbt could not check. sources.json leaves them out (dbt 1.11 writes only the
    sources it measured), so they are the selected ones it does not hold, each with the line
    dbt printed under ``Runtime Error in source <table>``."""
    flat = [part.strip() for line in lines for part in line.splitlines()]
    reported = {a.source for a in ages}
    found: list[SourceAge] = []
    for selector in selected:
        name = selector.removeprefix("source:").split(".", 1)[-1]  # package.source.table
        if name in reported:
            continue
        mark = f"Runtime Error in source {name.rsplit('.', 1)[-1]} ("
        at = next((i for i, line in enumerate(flat) if mark in line), None)
        if at is not None:
            reason = next((line for line in flat[at + 1 :] if line), "")
            found.append(SourceAge(name, RUNTIME_ERROR, error=reason))
    return found


def check_freshness(process: DbtProcess, log: Log, warn: Log) -> list[SourceAge]:
    """Run the process's `dbt source freshness`; log every source's age (one that is not fresh
    through ``warn``). Raises StaleSourceError when a source is past its error_after,
    DbtCommandError when dbt could not check one, or dbt's own error when it stopped before
    checking any."""
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.append(line)
        log(line)

    failed: DbtCommandError | None = None
    try:
        process.run(keep)
    except DbtCommandError as exc:
        failed = exc
    ages = read_ages(process.artifact or {})
    if failed is not None:
        ages += _unreported(process.call.select, ages, lines)
    for age in ages:
        (log if age.status == PASS else warn)(age.describe())
    errors = [a for a in ages if a.status in (ERROR, RUNTIME_ERROR)]
    if errors:
        text = "; ".join(a.describe() for a in errors)
        if all(a.status == ERROR for a in errors):
            raise StaleSourceError(text)
        raise DbtCommandError(text)
    if failed is not None:
        raise failed
    return ages
