"""`make docs` in a copy of the project: real dbt writes the site, sluice writes the zones in."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from sluice.dbt_docs import META_KEY
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import BUILD_KINDS
from sluice.spec.reader import load_spec
from tests.conftest import REPO
from tests.integration.conftest import make_sandbox

pytestmark = pytest.mark.integration


def test_make_docs_writes_one_folder_with_each_models_zone(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, migrate=False)
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        shutil.copy2(REPO / name, box.root / name)  # older than the virtualenv: no reinstall
    (box.root / ".venv").symlink_to(REPO / ".venv")
    # a make of its own, not a sub-make of whatever make started pytest
    box.env = {k: v for k, v in box.env.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    models = box.dbt / "models"
    before = {p: p.read_bytes() for p in models.rglob("*") if p.is_file()}

    done = box.run("make", "docs", "DOCS_DIR=site", timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]

    site = box.root / "site"
    assert sorted(os.listdir(site)) == ["catalog.json", "index.html", "manifest.json"]
    assert "dbt" in (site / "index.html").read_text()[:5000].lower()
    manifest = json.loads((site / "manifest.json").read_text())
    plan = plan_spec(load_spec(box.dags / "pipelines" / "payments_daily.yml"))
    built = [t for t in plan.tasks if t.kind in BUILD_KINDS]
    assert len(built) == 16  # the demo's models, seeds and snapshots
    for task in built:
        node = manifest["nodes"][task.node]
        assert node["meta"][META_KEY] == task.zone, task.node
        assert node["config"]["meta"][META_KEY] == task.zone
        assert f"zone:{task.zone}" in node["tags"]
    # the zone is sluice's, written into the site only: the project's files are as they were
    assert {p: p.read_bytes() for p in models.rglob("*") if p.is_file()} == before
    planned = json.loads((box.dbt / "target" / "manifest.json").read_text())
    assert all(META_KEY not in n.get("meta", {}) for n in planned["nodes"].values())
