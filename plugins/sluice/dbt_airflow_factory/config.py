"""A dbt-airflow-factory configuration folder, read as the factory reads it: each file from
``config/base``, its top-level keys replaced by the same file's in ``config/<env>``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sluice.errors import SluiceError

#: the files the factory reads; k8s.yml, docker.yml and bash.yml by execution_env.yml's type
FILES = (
    "airflow.yml",
    "dbt.yml",
    "execution_env.yml",
    "ingestion.yml",
    "airbyte.yml",
    "k8s.yml",
    "docker.yml",
    "bash.yml",
    "datahub.yml",
    "cosmos.yml",
)


@dataclass
class FactoryConfig:
    """Each file's merged mapping (absent files: empty), and where they were read."""

    dag_folder: Path
    read: list[Path] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self.files.get(name, {})


def _folders(config_dir: Path, env: str | None) -> tuple[Path, list[Path]]:
    """(the DAG folder, the folders to read in order) for CONFIG_DIR written as the DAG folder,
    its ``config`` folder, or one folder holding airflow.yml."""
    for config in (config_dir / "config", config_dir):
        if (config / "base").is_dir():
            chosen = [config / "base"]
            if env:
                if not (config / env).is_dir():
                    known = sorted(p.name for p in config.iterdir() if p.is_dir())
                    raise SluiceError(f"{config}: no folder '{env}' (environments: {', '.join(known)})")
                chosen.append(config / env)
            return config.parent, chosen
    if (config_dir / "airflow.yml").is_file():
        if env:
            raise SluiceError(f"{config_dir}: --factory-env needs config/base and config/{env} folders")
        return config_dir, [config_dir]
    raise SluiceError(
        f"{config_dir}: not a dbt-airflow-factory configuration: no config/base folder and no airflow.yml"
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SluiceError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise SluiceError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise SluiceError(f"{path}: expected a mapping of keys, found {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


def read_config(config_dir: str | Path, env: str | None = None) -> FactoryConfig:
    """The folder's files merged; airflow.yml with its ``dag`` and ``default_args`` is required."""
    dag_folder, folders = _folders(Path(config_dir), env)
    out = FactoryConfig(dag_folder)
    for name in FILES:
        merged: dict[str, Any] = {}
        for folder in folders:
            path = folder / name
            if path.is_file():
                merged.update(_read(path))
                out.read.append(path)
        if merged:
            out.files[name] = merged
    airflow = out["airflow.yml"]
    for key in ("dag", "default_args"):
        if not isinstance(airflow.get(key), Mapping):
            where = folders[-1] / "airflow.yml"
            raise SluiceError(f"{where}: {key}: required mapping is missing (the factory needs it too)")
    return out
