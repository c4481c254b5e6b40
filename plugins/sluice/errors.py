"""The one exception root of sluice and its few subclasses."""

from __future__ import annotations


class SluiceError(Exception):
    """Root of every error sluice raises on purpose: a bad input, said in one line."""


def one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped: a key or value from a
    hostile file must not split an error into lines that look like other errors."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 300 characters), or its type's name
    when it says nothing: what one error line quotes of a failure from another library."""
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


class SpecError(SluiceError):
    """A pipeline spec is invalid; the message names the file, line and key, on one line."""

    def __init__(self, path: str, line: int | None, key: str, message: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(one_line(f"{where}: {key}: {message}" if key else f"{where}: {message}"))


class SpecErrors(SluiceError):
    """Several problems in one spec, each its own SpecError line."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class ManifestError(SluiceError):
    """The dbt manifest is missing or unreadable."""


class PlanError(SluiceError):
    """The spec and the manifest disagree (zone order, selection); ``key`` names the spec key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(one_line(f"{key}: {message}"))


class DbtCommandError(SluiceError):
    """A dbt invocation exited non-zero; the message carries dbt's own error lines."""


class NodesNotPassed(DbtCommandError):
    """A zone build ran to its end and some of its nodes did not pass; each fails (and alerts) on
    its own task, so the build's own failure sends no alert."""


class AirbyteError(SluiceError):
    """Airbyte configuration, server or sync problem, said in one line (file and key, or server
    and status)."""


class AirbyteJobFailed(AirbyteError):
    """An Airbyte sync job ended failed or cancelled; the message names the job, status and link."""


class AirbyteConfigError(SpecError, AirbyteError):
    """A file under airbyte_config/ is invalid, or names an unset variable: file, line and key."""


class EventConfigError(SpecError):
    """A file under event_streams/ (or a schema file it names) is invalid: file, line and key."""


class EventLoadError(SluiceError):
    """An event load or archival could not run; the message names the stream and the object,
    server or table."""


class DeployError(SluiceError):
    """Packaging or deploying to MWAA failed; the message names the file, bucket or environment."""


class LocalSyncError(SluiceError):
    """A local Airbyte sync failed; the message names the connection and the connector's reason."""
