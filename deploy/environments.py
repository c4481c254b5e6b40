"""deploy/environments.yml: which MWAA environment, bucket and region each sluice environment uses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from sluice.errors import DeployError

ENVIRONMENTS_FILE = Path(__file__).resolve().parent / "environments.yml"
_KEYS = ("environment", "bucket", "region")
_NAME = re.compile(r"^[A-Za-z][0-9A-Za-z_-]{0,79}$")  # what MWAA accepts as an environment name


@dataclass(frozen=True)
class Target:
    name: str
    """the sluice environment (dev, prod): SLUICE_ENV on that MWAA environment"""
    environment: str
    bucket: str
    region: str


def read_targets(path: Path = ENVIRONMENTS_FILE) -> dict[str, Target]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeployError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise DeployError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(doc, dict) or not doc:
        raise DeployError(f"{path}: expected a mapping of environment names to settings")
    targets: dict[str, Target] = {}
    for name, settings in doc.items():
        if not isinstance(settings, dict):
            raise DeployError(f"{path}: {name}: expected a mapping with {', '.join(_KEYS)}")
        unknown = sorted(set(settings) - set(_KEYS))
        if unknown:
            raise DeployError(f"{path}: {name}.{unknown[0]}: unknown key; use {', '.join(_KEYS)}")
        for key in _KEYS:
            value = settings.get(key)
            if not isinstance(value, str) or not value:
                raise DeployError(f"{path}: {name}.{key}: missing or not a string")
        if not _NAME.match(settings["environment"]):
            raise DeployError(f"{path}: {name}.environment: {settings['environment']!r} is not an MWAA name")
        targets[str(name)] = Target(
            str(name), settings["environment"], settings["bucket"], settings["region"]
        )
    return targets


def read_target(name: str, path: Path = ENVIRONMENTS_FILE) -> Target:
    targets = read_targets(path)
    if name not in targets:
        raise DeployError(f"{path}: no environment {name!r}; known: {', '.join(targets)}")
    return targets[name]
