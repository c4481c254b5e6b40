"""A real DagBag beside a folder of the worst specs we know: the good pipeline always loads, the
DAG file never fails, and each bad spec is one line of the errors file, naming it."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import line_of
from tests.integration.conftest import Sandbox, make_sandbox
from tests.unit.manifests import manifest, node
from tests.unit.test_fuzz import edited_texts, mutated_specs

pytestmark = pytest.mark.integration

BAG = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
print("JSON" + json.dumps({
    "errors": bag.import_errors,
    "dags": {
        d: {"schedule": getattr(g.timetable, "expression", None), "tasks": sorted(g.task_ids)}
        for d, g in bag.dags.items()
    },
}))
"""


def parse(box: Sandbox) -> dict[str, Any]:
    """What a real DagBag makes of the sandbox's dags/ folder: DAGs and import errors."""
    done = box.python(BAG)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(next(x for x in done.stdout.splitlines() if x.startswith("JSON"))[4:])  # type: ignore[no-any-return]


def validate_flags(box: Sandbox) -> set[str]:
    """The spec files `sluice validate` finds a problem in (warnings aside)."""
    done = box.run(sys.executable, "-m", "sluice.cli", "validate")
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return {
        line.split(":", 1)[0]
        for line in done.stdout.splitlines()
        if not re.match(r"^[^:]+(:\d+)?: warning[ :(]", line)
    }


def hostile_specs(pipelines: Path, root: Path) -> dict[str, str]:
    """Writes the bad specs; returns file name -> what its error line must say."""
    good = (pipelines / "payments_daily.yml").read_text()

    def variant(name: str, *swaps: tuple[str, str]) -> str:
        text = good.replace("pipeline: payments_daily", f"pipeline: {name}")
        for old, new in swaps:
            assert old in text, old
            text = text.replace(old, new)
        return text

    bomb = [f"x-a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    deep_manifest = root / "deep_manifest.json"
    deep_manifest.write_text('{"nodes": {}, "x": ' + "[" * 200_000 + "]" * 200_000 + "}")

    def at(needle: str) -> str:
        return f":{line_of(good, needle)}:"

    files: dict[str, tuple[bytes, str]] = {
        "latin1.yml": (
            variant("latin1", ("owner: ", "owner: caf\xe9 ")).encode("latin-1"),
            at("owner: ") + r" not UTF-8",
        ),
        "utf16.yml": (variant("utf16").encode("utf-16"), r":1: not UTF-8"),
        "bad_date.yml": (
            variant("bad_date", ("2026-01-01", "2026-13-45")).encode(),
            at("start_date:") + r" start_date: ",
        ),
        "long_id.yml": (variant("s" * 251).encode(), at("pipeline:") + r" pipeline: 251 characters"),
        "long_zone.yml": (
            variant("long_zone", ("name: gold", "name: " + "g" * 201)).encode(),
            r"zones\[2\]\.name",
        ),
        "long_tag.yml": (
            variant("long_tag", ("tags: [", f"tags: [{'t' * 101}, ")).encode(),
            r"tags\[0\]: 101",
        ),
        "bomb.yml": (
            ("x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "\n".join(bomb) + "\n").encode()
            + variant("bomb", ("description: >-", "description: *a8\nx-old: >-")).encode(),
            r"refused: expands to more than",
        ),
        "deep.yml": (
            variant("deep").encode() + b"x-deep: " + b"[" * 20_000 + b"]" * 20_000 + b"\n",
            r"refused: nested",
        ),
        "huge.yml": (variant("huge").encode() + b"#" * (10 << 20) + b"\n", r": the file is 10,"),
        "manifest_dir.yml": (
            variant(
                "manifest_dir", ("project_dir: ../../dbt", "project_dir: ../../dbt\n  manifest: ../../dbt")
            ).encode(),
            r"dbt\.manifest: .*not a regular file",
        ),
        "deep_manifest.yml": (
            variant(
                "deep_manifest",
                ("project_dir: ../../dbt", f"project_dir: ../../dbt\n  manifest: {deep_manifest}"),
            ).encode(),
            r"dbt\.manifest: .*nested too deeply",
        ),
        "bad_cron.yml": (
            variant("bad_cron", ('"0 5 * * *"', '"61 * * * *"')).encode(),
            at("schedule:") + r" schedule: Airflow refuses",
        ),
        "a_new_team.yml": (
            good.replace('"0 5 * * *"', '"@hourly"').encode(),
            at("pipeline:") + r" pipeline: 'payments_daily' belongs to",
        ),
    }
    for name, (data, _) in files.items():
        (pipelines / name).write_bytes(data)
    return {name: expected for name, (_, expected) in files.items()}


def clashing_pipeline(pipelines: Path, root: Path) -> None:
    """Two models whose names become one task id once made safe: both get a task."""
    (root / "clash").mkdir()
    raw = manifest(
        node("model", "v;x", path="models/bronze/v;x.sql"), node("model", "v'x", path="models/bronze/v'x.sql")
    )
    (root / "clash" / "manifest.json").write_text(json.dumps(raw))
    (pipelines / "clash.yml").write_text(
        "x-zone: &zone {publish: barrier}\n"
        "pipeline: clash\ndbt: {manifest: ../../clash/manifest.json}\n"
        "zones:\n  - <<: *zone\n    name: bronze\n    select: [path:models/bronze]\n"
    )


def test_no_spec_takes_the_others_down(sandbox: Callable[..., Sandbox]) -> None:
    box = sandbox(migrate=False)
    pipelines = box.dags / "pipelines"
    expected = hostile_specs(pipelines, box.root)
    clashing_pipeline(pipelines, box.root)
    bag = parse(box)
    assert sorted(bag["dags"]) == ["clash", "payments_daily"]
    assert bag["dags"]["payments_daily"]["schedule"] == "0 5 * * *", "the copy did not take it over"
    clash = bag["dags"]["clash"]["tasks"]
    assert len(clash) == 4 and "bronze.shop__v_x_run" not in clash, clash  # two runs, build, gateway
    assert [t for t in clash if re.fullmatch(r"bronze\.v_x_run(_[0-9a-f]{8})?", t)] == clash[2:], clash

    errors: dict[str, str] = bag["errors"]
    assert list(errors) == [str(box.dags / "sluice_import_errors.py")], "the DAG file itself never fails"
    lines = errors[str(box.dags / "sluice_import_errors.py")].splitlines()
    by_file = {line.split(":", 1)[0]: line for line in lines}
    assert sorted(by_file) == sorted(f"dags/pipelines/{name}" for name in expected), lines
    for name, pattern in expected.items():
        assert re.search(pattern, by_file[f"dags/pipelines/{name}"]), by_file[f"dags/pipelines/{name}"]
    assert all(len(line) < 400 and "Traceback" not in line for line in lines)
    assert validate_flags(box) == set(by_file), "sluice validate says what the import says"


@settings(max_examples=3, derandomize=True, database=None, deadline=None, phases=[Phase.generate])
@given(
    specs=st.lists(
        mutated_specs().map(str.encode) | edited_texts() | st.binary(max_size=500), min_size=8, max_size=8
    )
)
def test_fuzzed_specs_beside_the_good_one_in_a_real_dagbag(
    tmp_path_factory: pytest.TempPathFactory, specs: list[bytes]
) -> None:
    box = make_sandbox(tmp_path_factory.mktemp("fuzz"), migrate=False)
    for i, data in enumerate(specs):
        (box.dags / "pipelines" / f"fuzz_{i}.yml").write_bytes(data)
    bag = parse(box)
    assert "payments_daily" in bag["dags"]
    loaded = {f"dags/pipelines/fuzz_{i}.yml" for i in range(len(specs))}
    errors: dict[str, str] = bag["errors"]
    assert set(errors) <= {str(box.dags / "sluice_import_errors.py")}, "the DAG file itself never fails"
    refused = set()
    for line in "".join(errors.values()).splitlines():
        assert line.split(":", 1)[0] in loaded and "Traceback" not in line, line
        refused.add(line.split(":", 1)[0])
    # validate checks every environment, the import only the active one: it may flag more
    assert refused <= validate_flags(box), "whatever sluice validate accepts, Airflow accepts"
