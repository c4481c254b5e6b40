"""Pipeline specs: strict pydantic models read from YAML, errors with file, line and key."""

from sluice.spec.loader import load_spec, spec_paths
from sluice.spec.models import Environment, PipelineSpec, TestMode, UnassignedPolicy, Zone

__all__ = [
    "Environment",
    "PipelineSpec",
    "TestMode",
    "UnassignedPolicy",
    "Zone",
    "load_spec",
    "spec_paths",
]
