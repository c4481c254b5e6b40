"""A reader of dbt's manifest.json: only the fields sluice needs, by type; other keys ignored."""

from sluice.manifest.reader import Manifest, Node, load_manifest, parse_manifest
from sluice.manifest.selector import matches

__all__ = ["Manifest", "Node", "load_manifest", "matches", "parse_manifest"]
