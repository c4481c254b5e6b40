"""The manifest reader is lenient about fields and strict only about what it cannot do without."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.errors import ManifestError
from sluice.manifest.reader import load_manifest, parse_manifest
from sluice.manifest.selector import matches
from tests.unit.manifests import manifest, node


def test_missing_and_unknown_fields_are_tolerated() -> None:
    raw = {"nodes": {"model.p.a": {"resource_type": "model", "brand_new_dbt_key": {"x": 1}}}}
    parsed = parse_manifest(raw)
    a = parsed.nodes["model.p.a"]
    assert (a.name, a.package_name, a.fqn, a.depends_on, a.enabled) == ("a", "p", ("p", "a"), (), True)
    assert parsed.project_name == "p"


def test_test_severity_is_read_case_insensitively() -> None:
    raw = manifest(node("test", "t", severity="warn"), node("test", "u"))
    parsed = parse_manifest(raw)
    assert not parsed.nodes["test.shop.t"].blocks
    assert parsed.nodes["test.shop.u"].blocks


def test_not_a_manifest_is_one_clear_error() -> None:
    with pytest.raises(ManifestError, match="not a dbt manifest"):
        parse_manifest({"metadata": {}}, "m.json")


def test_missing_file_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"no dbt manifest here; run `make manifest`"):
        load_manifest(tmp_path / "manifest.json")


def test_broken_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"nodes": {\n  "a": }')
    with pytest.raises(ManifestError, match=rf"{path}:2: not valid JSON"):
        load_manifest(path)


def test_reload_after_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"nodes": {}}')
    assert not load_manifest(path).nodes
    path.write_text('{"nodes": {"model.p.a": {"resource_type": "model"}}}')
    assert list(load_manifest(path).nodes) == ["model.p.a"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("path:models/bronze", True),
        ("path:models/bronze/", True),
        ("path:models/bro", False),
        ("path:models/*/stg_a.sql", True),
        ("models/bronze", True),
        ("tag:pii", True),
        ("tag:p*", True),
        ("tag:finance", False),
        ("fqn:shop.bronze.stg_a", True),
        ("fqn:bronze.stg_a", True),
        ("fqn:shop.bronze", True),
        ("stg_a", True),
        ("stg_*", True),
        ("package:shop", True),
        ("package:other", False),
        ("resource_type:model", True),
    ],
)
def test_selectors(selector: str, expected: bool) -> None:
    uid, raw = node("model", "stg_a", path="models/bronze/stg_a.sql", tags=("pii",))
    parsed = parse_manifest(manifest((uid, raw)))
    assert matches(parsed.nodes[uid], selector) is expected
