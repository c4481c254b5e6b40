"""JSON Schemas of the airbyte_config/ files, one per folder, for editor completion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sluice.airbyte.config import MODELS, SCHEMA_SUFFIX
from sluice.airbyte.models import Kind


def schema_path(directory: Path, kind: Kind) -> Path:
    return directory / kind.folder / f"{kind.value}{SCHEMA_SUFFIX}"


def json_schema(kind: Kind) -> dict[str, Any]:
    schema = MODELS[kind].model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"sluice Airbyte {kind.value}"
    return schema


def render_schema(kind: Kind) -> str:
    return json.dumps(json_schema(kind), indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    written = []
    for kind in Kind:
        target = schema_path(directory, kind)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_schema(kind), encoding="utf-8")
        written.append(target)
    return written
