"""A dbt target's output in profiles.yml, and the DuckDB file it writes, as dbt would resolve it."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml


def target_output(project_dir: Path, profiles_dir: Path, target: str) -> dict[str, object] | None:
    """The target's output mapping in profiles.yml (unrendered), or None when it cannot be told.
    Shared between callers: read it, never change it."""
    files = (project_dir / "dbt_project.yml", profiles_dir / "profiles.yml")
    try:
        stamps = tuple((str(f), s.st_ino, s.st_size, s.st_mtime_ns) for f in files for s in [f.stat()])
    except OSError:
        return None
    return _output(stamps, target)


@functools.lru_cache(maxsize=16)
def _output(stamps: tuple[tuple[str, int, int, int], ...], target: str) -> dict[str, object] | None:
    """Parsed once per version of the two files: a dbt task asks for its lock, its worker's
    socket and its other workers' sockets, each of which reads the target's output."""
    project_file, profiles_file = (Path(stamp[0]) for stamp in stamps)
    try:
        project = yaml.safe_load(project_file.read_text(encoding="utf-8"))
        profiles = yaml.safe_load(profiles_file.read_text(encoding="utf-8"))
        output = profiles[project["profile"]]["outputs"][target]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    return output if isinstance(output, dict) else None


def profile_duckdb_path(project_dir: Path, profiles_dir: Path, target: str) -> Path | None:
    """The DuckDB file a dbt target writes, as dbt would resolve it (``env_var`` rendered, a
    relative path taken from the project folder, where sluice runs dbt); None when the target is
    not a DuckDB file or its path cannot be told."""
    output = target_output(project_dir, profiles_dir, target)
    if output is None or output.get("type") != "duckdb":
        return None
    raw = output.get("path")
    if not isinstance(raw, str):
        return None
    try:
        rendered = render_profile_value(raw).strip()
    except Exception:  # any Jinja the sandbox refuses: fall back to the caller's convention
        return None
    if not rendered or rendered == ":memory:" or rendered.startswith(("md:", "motherduck:")):
        return None
    path = Path(rendered).expanduser()
    return path if path.is_absolute() else project_dir / path


def rendered_output(project_dir: Path, profiles_dir: Path, target: str) -> dict[str, str]:
    """The target's plain settings (host, port, user, ...) rendered as dbt would: what a task
    that writes the warehouse itself (an event load) connects with. Holds secrets: never log it."""
    output = target_output(project_dir, profiles_dir, target)
    if output is None:
        return {}
    return {
        str(k): render_profile_value(v) if isinstance(v, str) else str(v)
        for k, v in output.items()
        if v is not None
    }


def render_profile_value(text: str) -> str:
    """Render one value of profiles.yml as dbt would for a path, host or port: ``env_var`` and
    its ``as_*`` filters, in Jinja's sandbox; raises when an env var is unset."""
    if "{{" not in text:
        return text
    from jinja2.sandbox import SandboxedEnvironment

    def env_var(name: str, default: str | None = None) -> str:
        value = os.environ.get(name, default)
        if value is None:
            raise KeyError(name)
        return value

    env = SandboxedEnvironment()
    for name in ("as_number", "as_text", "as_bool", "as_native"):
        env.filters[name] = lambda value: value
    return env.from_string(text).render(env_var=env_var)
