"""Pipeline specs: strict pydantic models read from YAML, errors with file, line and key."""

from sluice.spec.models import Environment, PipelineSpec, TestMode, UnassignedPolicy, Zone
from sluice.spec.reader import load_spec, spec_paths

__all__ = [
    "Environment",
    "PipelineSpec",
    "TestMode",
    "UnassignedPolicy",
    "Zone",
    "load_spec",
    "spec_paths",
]
