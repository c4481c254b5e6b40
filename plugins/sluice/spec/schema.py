"""The JSON Schema of a pipeline spec, written beside the specs for editor completion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sluice.spec.models import PipelineSpec
from sluice.spec.reader import EXTENSION_PREFIX

SCHEMA_NAME = "spec.schema.json"


def spec_json_schema() -> dict[str, Any]:
    schema = PipelineSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "sluice pipeline spec"
    # top-level x- keys hold YAML anchors for merge keys; sluice ignores them
    schema["patternProperties"] = {f"^{EXTENSION_PREFIX}": {}}
    return schema


def render_schema() -> str:
    return json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"


def write_schema(directory: Path) -> Path:
    target = directory / SCHEMA_NAME
    target.write_text(render_schema(), encoding="utf-8")
    return target
