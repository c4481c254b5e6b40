"""Fuzzing `sluice validate`: arbitrary bytes, and mutations of the demo spec and manifest.

Whatever the input, the result is problem lines naming the bad file (or a valid plan), never an
exception, never a hang, and the good spec beside it always plans. Bounded so `make test` stays
fast; tests/integration/test_hostile_dags.py feeds the same mutations to a real DagBag.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import string
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.airflow.checks import check_with_airflow
from sluice.errors import ManifestError, SluiceError
from sluice.manifest.reader import parse_manifest
from sluice.plan.builder import build_plan
from sluice.plan.folder import plan_folder
from sluice.spec.reader import load_spec
from tests.conftest import DEMO_MANIFEST, DEMO_SPEC, demo_spec_text

#: deterministic in `make test`; SLUICE_FUZZ_EXAMPLES=5000 explores further, with new examples each run
EXAMPLES = int(os.environ.get("SLUICE_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize="SLUICE_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


DEMO = demo_spec_text()
DEMO_DATA: dict[str, Any] = yaml.safe_load(DEMO)

#: YAML values as a careless or hostile editor writes them
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.text(alphabet=string.ascii_letters + "_-.:/*@+ ;'\"", max_size=300)
    | st.sampled_from(
        ["2026-13-45", "@continuous", "61 * * * *", "path:models/gold", "../..", "/", "ingest"]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _paths(data: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*at, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _paths(value, (*at, i))
    return found


DEMO_PATHS = _paths(DEMO_DATA)[1:]


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    """The demo spec with a few keys replaced, removed or added, dumped back to YAML."""
    data = copy.deepcopy(DEMO_DATA)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(DEMO_PATHS))
        parent: Any = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                parent[path[-1]] = draw(values)
            elif action == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(max_size=12))] = draw(values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@st.composite
def edited_texts(draw: st.DrawFn) -> bytes:
    """The demo text with bytes inserted, removed or overwritten at a few places."""
    raw = bytearray(DEMO.encode())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw)))
        junk = draw(
            st.binary(max_size=8) | st.sampled_from([b"&a ", b"*a", b"<<: ", b"\t", b"\xff", b"[", b"{"])
        )
        cut = draw(st.integers(0, 6))
        raw[at : at + cut] = junk
    return bytes(raw)


def check_folder(folder: Path, fuzzed: Path) -> None:
    """What must hold for `sluice validate` on a folder of the good spec and one fuzzed spec."""
    result = plan_folder([folder], every_environment=True, check=check_with_airflow)
    assert "payments_daily" in [sf.spec.pipeline for sf, _ in result.plans], result.problems
    for line in result.problems:
        assert line.startswith(f"{fuzzed}"), line
        assert len(line.splitlines()) == 1 and "Traceback" not in line, line


def folder_with(tmp_path: Path, data: bytes) -> tuple[Path, Path]:
    folder = tmp_path / "pipelines"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "payments_daily.yml").write_text(DEMO)
    fuzzed = folder / "fuzzed.yml"
    fuzzed.write_bytes(data)
    return folder, fuzzed


@FUZZ
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    check_folder(*folder_with(tmp_path, data))


@FUZZ
@given(text=mutated_specs())
def test_mutated_demo_specs(tmp_path: Path, text: str) -> None:
    check_folder(*folder_with(tmp_path, text.encode()))


@FUZZ
@given(data=edited_texts())
def test_edited_demo_texts(tmp_path: Path, data: bytes) -> None:
    check_folder(*folder_with(tmp_path, data))


MANIFEST: dict[str, Any] = json.loads(DEMO_MANIFEST.read_text())
NODE_IDS = sorted(MANIFEST["nodes"])
FIELDS = [
    "name",
    "fqn",
    "depends_on",
    "config",
    "resource_type",
    "package_name",
    "original_file_path",
    "schema",
]


@st.composite
def mutated_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """The demo manifest with a few node fields set to anything JSON can hold."""
    raw = dict(MANIFEST)
    raw["nodes"] = dict(MANIFEST["nodes"])
    for _ in range(draw(st.integers(1, 4))):
        uid = draw(st.sampled_from(NODE_IDS))
        node = dict(raw["nodes"][uid])
        field = draw(st.sampled_from(FIELDS))
        if field == "depends_on" and draw(st.booleans()):
            # a parent that is not there, or the node itself (a cycle)
            node[field] = {"nodes": [draw(st.sampled_from([*NODE_IDS, "model.payments.ghost", uid]))]}
        else:
            node[field] = json.loads(json.dumps(draw(values), default=str))
        raw["nodes"][uid] = node
    return raw


@FUZZ
@given(raw=mutated_manifests())
def test_mutated_demo_manifests(raw: dict[str, Any]) -> None:
    spec = load_spec(DEMO_SPEC).spec
    try:
        plan = build_plan(spec, parse_manifest(raw))
    except SluiceError as exc:
        assert len(str(exc).splitlines()) == 1, str(exc)
    else:
        ids = [t.id for t in plan.tasks]
        assert len(ids) == len(set(ids))
        assert all(len(i) <= 250 for i in ids)


@FUZZ
@given(raw=mutated_manifests())
def test_mutated_demo_manifest_files(raw: dict[str, Any]) -> None:
    """As a file, read by type: the manifest its decoded JSON gives, or one line naming the file
    and a node that was changed."""
    changed = {uid for uid in NODE_IDS if raw["nodes"][uid] != MANIFEST["nodes"][uid]}
    try:
        read = parse_manifest(json.dumps(raw).encode(), "m.json")
    except ManifestError as exc:
        message = str(exc)
        assert len(message.splitlines()) == 1, message
        assert any(message.startswith(f'm.json: nodes["{uid}"]') for uid in changed), message
    else:
        assert read == parse_manifest(raw, "m.json")
