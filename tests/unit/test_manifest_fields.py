"""A manifest file is read by type: on real manifests it says what their JSON says, a field
sluice reads of a type dbt does not write is one line naming the file and the key, and a key
sluice does not read is ignored whatever it holds."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from sluice.errors import ManifestError
from sluice.manifest.reader import CHECKED_MACROS, Manifest, Node, load_manifest, parse_manifest
from sluice.manifest.selector import config_value
from sluice.spec.selectors import CONFIG_KEYS
from tests.conftest import CORPUS_DIR, DEMO_MANIFEST
from tests.unit.manifests import manifest, node

REAL = [*sorted(CORPUS_DIR.glob("*.json")), DEMO_MANIFEST]


def expected_node(uid: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A node as dbt's fields mean it, read straight from the JSON."""
    config = raw.get("config", {})
    return {
        "unique_id": uid,
        "resource_type": raw["resource_type"],
        "package_name": raw["package_name"],
        "name": raw["name"],
        "fqn": tuple(raw["fqn"]),
        "original_file_path": raw.get("original_file_path", ""),
        "tags": tuple(sorted({*raw.get("tags", ()), *config.get("tags", ())})),
        "depends_on": tuple(raw.get("depends_on", {}).get("nodes", ())),
        "materialized": config.get("materialized"),
        "enabled": config.get("enabled", True),
        "severity": config.get("severity", "ERROR").upper(),
        "description": raw.get("description", ""),
        "version": None if raw.get("version") is None else str(raw["version"]),
        "schema": raw.get("schema"),
        "alias": raw.get("alias") or raw["name"],
        "freshness": expected_freshness(raw.get("freshness") or config.get("freshness")),
        "loaded_at_field": raw.get("loaded_at_field") or config.get("loaded_at_field"),
        "loaded_at_query": raw.get("loaded_at_query") or config.get("loaded_at_query"),
        "group": config.get("group") or raw.get("group"),
        "access": raw.get("access") or config.get("access"),
        "latest_version": None if raw.get("latest_version") is None else str(raw["latest_version"]),
        "test_type": None if raw["resource_type"] != "test" else expected_test_type(raw),
        "test_name": (raw.get("test_metadata") or {}).get("name"),
        "source_name": raw.get("source_name"),
    }


def expected_test_type(raw: dict[str, Any]) -> str:
    return "generic" if raw.get("test_metadata") is not None else "singular"


def selectable_config(node: Node) -> dict[str, Any]:
    """The config a ``config.<key>`` selector reads, as plain JSON values."""
    read = {key: config_value(node, (key,)) for key in (*CONFIG_KEYS, "meta")}
    read["contract.enforced"] = config_value(node, ("contract", "enforced"))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in read.items()}


def expected_config(raw: dict[str, Any]) -> dict[str, Any]:
    config = raw.get("config", {})
    found = {key: config.get(key) for key in (*CONFIG_KEYS, "meta")}
    found["contract.enforced"] = (config.get("contract") or {}).get("enforced")
    return found


def as_read(node: Node) -> dict[str, Any]:
    fields = dataclasses.asdict(node)
    del fields["config"]
    return fields


def expected_freshness(rule: dict[str, Any] | None) -> dict[str, Any] | None:
    """A source's rule as dbt applies it: a threshold counts when both its count and period are set."""

    def threshold(after: dict[str, Any] | None) -> dict[str, Any] | None:
        if not after or after.get("count") is None or not after.get("period"):
            return None
        return {"count": after["count"], "period": after["period"]}

    warn, error = threshold((rule or {}).get("warn_after")), threshold((rule or {}).get("error_after"))
    return {"warn_after": warn, "error_after": error} if warn or error else None


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name if p.parent == CORPUS_DIR else "demo")
def test_a_real_manifest_reads_as_its_json_says(path: Path) -> None:
    raw = json.loads(path.read_bytes())
    read = load_manifest(path)
    assert {u: as_read(n) for u, n in read.nodes.items()} == {
        u: expected_node(u, n) for u, n in raw["nodes"].items()
    }
    assert {u: as_read(n) for u, n in read.sources.items()} == {
        u: expected_node(u, n) for u, n in raw["sources"].items()
    }
    assert {u: selectable_config(n) for u, n in read.nodes.items()} == {
        u: expected_config(n) for u, n in raw["nodes"].items()
    }
    assert read.disabled == set(raw["disabled"])
    assert (read.project_name, read.adapter_type) == (
        raw["metadata"]["project_name"],
        raw["metadata"]["adapter_type"],
    )
    checked = {
        uid.rsplit(".", 1)[1]: {c.rsplit(".", 1)[1] for c in m["depends_on"]["macros"]}
        for uid, m in raw.get("macros", {}).items()
        if uid.rsplit(".", 1)[1] in CHECKED_MACROS and not uid.startswith("macro.dbt.")
    }
    assert read.macro_calls == checked
    assert read == parse_manifest(raw, str(path)), "the file and its decoded JSON give one manifest"


def written(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def small() -> dict[str, Any]:
    raw = manifest(
        node("model", "a", tags=("pii",)),
        node("test", "t", ("model.shop.a",), severity="warn"),
        sources=("source.shop.raw.orders",),
    )
    raw["macros"] = {
        "macro.shop.generate_schema_name": {"depends_on": {"macros": ["macro.shop.sluice_schema"]}},
        "macro.shop.other": {"depends_on": {"macros": []}},
    }
    return raw


def put(data: dict[str, Any], where: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    inner = changed
    for key in where[:-1]:
        inner = inner[key]
    inner[where[-1]] = value
    return changed


A = 'nodes["model.shop.a"]'


@pytest.mark.parametrize(
    ("where", "value", "key", "what"),
    [
        (("nodes", "model.shop.a", "tags"), "pii", f"{A}.tags", "got `str`"),
        (("nodes", "model.shop.a", "fqn"), {"no": 1}, f"{A}.fqn", "got `object`"),
        (("nodes", "model.shop.a", "depends_on"), {"nodes": [1]}, f"{A}.depends_on.nodes[0]", "got `int`"),
        (("nodes", "model.shop.a", "config"), [], f"{A}.config", "got `array`"),
        (("nodes", "model.shop.a", "config", "materialized"), 3, f"{A}.config.materialized", "got `int`"),
        (("nodes", "model.shop.a", "config", "enabled"), "no", f"{A}.config.enabled", "got `str`"),
        (("nodes", "model.shop.a", "original_file_path"), 3, f"{A}.original_file_path", "got `int`"),
        (("nodes", "model.shop.a"), [], A, "expected `object`, got `array`"),
        (("sources", "source.shop.raw.orders", "fqn"), "x", 'sources["source.shop.raw.orders"].fqn', "`str`"),
        (
            ("sources", "source.shop.raw.orders", "freshness", "warn_after", "count"),
            "a day",
            'sources["source.shop.raw.orders"].freshness.warn_after.count',
            "got `str`",
        ),
        (("metadata", "project_name"), 3, "metadata.project_name", "got `int`"),
        (("disabled",), [], "disabled", "expected `object`, got `array`"),
        (
            ("macros", "macro.shop.generate_schema_name", "depends_on", "macros"),
            "sluice_schema",
            'macros["macro.shop.generate_schema_name"].depends_on.macros',
            "got `str`",
        ),
    ],
)
def test_a_field_sluice_reads_of_the_wrong_type_is_one_line_naming_file_and_key(
    tmp_path: Path, where: tuple[str, ...], value: Any, key: str, what: str
) -> None:
    path = written(tmp_path, put(small(), where, value))
    with pytest.raises(ManifestError) as exc:
        load_manifest(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert what in message and "re-run `dbt parse`" in message
    assert len(message.splitlines()) == 1


def test_a_node_id_that_breaks_lines_cannot_split_the_error(tmp_path: Path) -> None:
    raw = small()
    raw["nodes"]["model.shop.a\nmodel.shop.b"] = {"tags": "x"}
    with pytest.raises(ManifestError) as exc:
        load_manifest(written(tmp_path, raw))
    assert len(str(exc.value).splitlines()) == 1


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("nodes", "model.shop.a", "columns"), "not a mapping"),
        (("nodes", "model.shop.a", "raw_code"), [1, 2]),
        (("nodes", "model.shop.a", "config", "persist_docs"), 3),
        (("nodes", "model.shop.a", "config", "post-hook"), {"sql": 1}),
        (("sources", "source.shop.raw.orders", "freshness", "filter"), {"not": "read"}),
        (("metadata", "dbt_version"), 1.11),
        (("macros", "macro.shop.other", "depends_on"), "not read: not a macro sluice checks"),
        (("disabled", "model.shop.gone"), "only the keys are read"),
        (("parent_map",), 3),
        (("exposures",), ["x"]),
    ],
)
def test_a_key_sluice_does_not_read_is_ignored_whatever_it_holds(
    tmp_path: Path, where: tuple[str, ...], value: Any
) -> None:
    clean = small()
    as_written = load_manifest(written(tmp_path, clean))
    changed = put(clean, where, value)
    read = load_manifest(written(tmp_path, changed))
    if where[0] == "disabled":
        assert read.disabled == {"model.shop.gone"}
        read = dataclasses.replace(read, disabled=frozenset())
    assert read == as_written


def test_a_field_written_as_null_reads_as_absent(tmp_path: Path) -> None:
    raw = small()
    for key in ("tags", "config", "depends_on", "fqn", "description"):
        raw["nodes"]["model.shop.a"][key] = None
    raw["metadata"] = raw["sources"] = raw["disabled"] = None
    read = load_manifest(written(tmp_path, raw))
    a = read.nodes["model.shop.a"]
    assert (a.tags, a.depends_on, a.fqn, a.enabled, a.materialized) == ((), (), ("shop", "a"), True, None)
    assert (read.project_name, dict(read.sources), read.disabled) == ("shop", {}, frozenset())


def _as_json_load_read_it(path: Path) -> Manifest:
    return parse_manifest(json.loads(path.read_bytes()), str(path))


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: text.encode("utf-16"), id="utf-16"),
        pytest.param(lambda text: b"\xef\xbb\xbf" + text.encode(), id="utf-8 with a byte order mark"),
        pytest.param(lambda text: text.replace('"meta": 0', '"meta": NaN').encode(), id="NaN in a meta"),
    ],
)
def test_what_json_load_read_still_reads(tmp_path: Path, encode: Any) -> None:
    raw = small()
    raw["nodes"]["model.shop.a"]["meta"] = 0
    path = tmp_path / "manifest.json"
    path.write_bytes(encode(json.dumps(raw)))
    assert load_manifest(path) == _as_json_load_read_it(path)
    assert load_manifest(path).nodes["model.shop.a"].tags == ("pii",)
