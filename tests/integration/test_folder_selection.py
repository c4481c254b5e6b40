"""What a zone build selects when the dbt worker names its folders instead of its nodes: real dbt
selects exactly the nodes of the zone, as with one selector per node."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sluice.plan.from_spec import plan_spec
from sluice.runtime.folder_selection import INERT, SELECTABLE, FolderIndex
from sluice.spec.reader import load_spec
from tests.integration.conftest import BIN, Sandbox

pytestmark = pytest.mark.integration


def test_each_demo_zone_named_by_folder_selects_the_same_nodes(sandbox: Callable[..., Sandbox]) -> None:
    box = sandbox(migrate=False)
    manifest = json.loads((box.dbt / "target" / "manifest.json").read_text())
    found = [(uid, n) for kind in SELECTABLE for uid, n in manifest[kind].items()]
    nodes = [(uid, n["resource_type"], n["original_file_path"]) for uid, n in found]
    selectors = {uid: "fqn:" + ".".join(n["fqn"]) for uid, n in manifest["nodes"].items()}
    index = FolderIndex(box.dbt, nodes, selectors)
    zones = plan_spec(load_spec(box.dags / "pipelines" / "payments_daily.yml")).batches

    def selected(select: list[str]) -> set[str]:
        done = box.run(
            str(BIN / "dbt"), "ls", "--quiet", "--project-dir", str(box.dbt), "--profiles-dir", str(box.dbt),
            "--target", "local", "--output", "json", "--output-keys", "unique_id", "--resource-type", "all",
            "--select", *select, "--indirect-selection", "cautious",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:]
        found = (json.loads(line)["unique_id"] for line in done.stdout.splitlines() if line.startswith("{"))
        # what `dbt build` neither runs nor selects tests through (an exposure) may differ
        return {uid for uid in found if uid.split(".")[0] not in INERT}

    named = {}
    for zone, one_by_one in zones.items():
        args = index.fewer_selectors(["--select", *one_by_one])[1:]
        named[zone] = args
        assert selected(args) == selected(one_by_one), zone
    # the folders that hold nothing but their zone's nodes are named once
    assert "path:models/silver" in named["silver"] and "path:seeds" in named["bronze"], named
    assert sum(map(len, named.values())) < sum(map(len, zones.values())) / 2, named
