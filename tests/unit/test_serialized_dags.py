"""The DAGs sluice draws, as Airflow serializes them (plus each sluice operator's own arguments,
which Airflow does not serialize), compared with the stored copies in tests/data/golden.

A refactor must leave these byte-for-byte the same; a change meant to alter the DAG rewrites
them with ``SLUICE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_serialized_dags.py`` and
shows the difference in review.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import DagSerialization

from sluice.airflow.dag_files import load_dags
from tests.conftest import CORPUS_DIR, REPO

GOLDEN = REPO / "tests" / "data" / "golden"
#: what every operator has; the rest of an operator's attributes are its own arguments
_BASE_ATTRIBUTES = set(vars(EmptyOperator(task_id="x")))
_LONG = 40


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        items = [_plain(v) for v in value]
        if len(items) > _LONG:  # a zone's batch of selectors, which each of its tasks holds
            return f"{len(items)} items, sha256 {hashlib.sha256(json.dumps(items).encode()).hexdigest()}"
        return items
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def serialized(dag: DAG, root: Path) -> str:
    doc = DagSerialization.to_dict(dag)
    for key in ("fileloc", "_processor_dags_folder"):  # where the DAG object was made, not what it is
        doc["dag"].pop(key, None)
    doc["sluice_arguments"] = {
        task.task_id: {k: _plain(v) for k, v in sorted(vars(task).items()) if k not in _BASE_ATTRIBUTES}
        for task in dag.tasks
    }
    text = json.dumps(doc, sort_keys=True, indent=1, default=str).replace(str(root), "<root>")
    return text.replace(str(REPO), "<repo>")  # a manifest kept in the repository's test data


def _corpus_dags(tmp_path: Path) -> dict[str, DAG]:
    """Each corpus manifest as a two-zone pipeline (seeds, then models) of every package."""
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    for path in sorted(CORPUS_DIR.glob("*.json")):
        packages = sorted({n["package_name"] for n in json.loads(path.read_text())["nodes"].values()})
        select = json.dumps([f"package:{p}" for p in packages])
        (pipelines / f"{path.stem}.yml").write_text(
            f"pipeline: {path.stem}\n"
            f"dbt: {{project_dir: ../project, manifest: {path}, select: {select}}}\n"
            "unassigned: warn\n"
            "zones:\n"
            "  - {name: raw, select: ['resource_type:seed']}\n"
            "  - {name: models, select: ['resource_type:model'], publish: barrier}\n"
        )
    return load_dags(pipelines)


def _cases(tmp_path: Path) -> dict[str, tuple[DAG, Path]]:
    cases = {name: (dag, tmp_path) for name, dag in _corpus_dags(tmp_path).items()}
    cases["payments_daily"] = (load_dags(REPO / "dags" / "pipelines")["payments_daily"], REPO)
    return cases


def test_the_dags_are_what_they_were(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_PLAN_DIR", str(tmp_path / "plans"))
    cases = _cases(tmp_path)
    assert sorted(cases) == ["jaffle_shop_duckdb", "payments_daily", "tuva"]
    for name, (dag, root) in cases.items():
        text = serialized(dag, root)
        golden = GOLDEN / f"{name}.json.gz"
        if os.environ.get("SLUICE_UPDATE_GOLDEN"):
            golden.write_bytes(gzip.compress(text.encode(), mtime=0))
            continue
        stored = gzip.decompress(golden.read_bytes()).decode()
        if text != stored:
            for i, (new, old) in enumerate(zip(text.splitlines(), stored.splitlines(), strict=False)):
                assert new == old, f"{name}: line {i + 1} of its serialized DAG changed"
            pytest.fail(f"{name}: the serialized DAG has {len(text)} characters, not {len(stored)}")
