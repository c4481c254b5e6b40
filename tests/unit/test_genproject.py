"""The execution benchmark's generated dbt projects (bench/genproject.py, runnable shape) have the
shape the benchmark claims: N models of each kind over seeds, every model tested, three zones by
folder where no model reads a later zone, and sluice's macros for the atomic zone. Read back from
the files written, as dbt would read them, not from the generator's own bookkeeping."""

from __future__ import annotations

import re
import sys
from graphlib import TopologicalSorter
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import genproject

REF = re.compile(r"ref\('([^']+)'\)")
MATERIALIZED = re.compile(r"config\(materialized='(\w+)'")


def read_project(root: Path) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]], dict[str, int]]:
    """(zone of each node, materialization of each model, refs of each model, tests per model)."""
    folders = yaml.safe_load((root / "dbt_project.yml").read_text())["models"]["scale"]
    zone_of = {p.stem: "seeds" for p in (root / "seeds").glob("*.csv")}
    kind, refs, tests = {}, {}, {}
    for zone, config in folders.items():
        for sql in sorted((root / "models" / zone).glob("*.sql")):
            text = sql.read_text()
            zone_of[sql.stem] = zone
            found = MATERIALIZED.search(text)
            kind[sql.stem] = found.group(1) if found else config["+materialized"]
            refs[sql.stem] = REF.findall(text)
        for yml in (root / "models" / zone).glob("*.yml"):
            for model in yaml.safe_load(yml.read_text())["models"]:
                tests[model["name"]] = sum(len(c.get("data_tests", [])) for c in model["columns"])
    return zone_of, kind, refs, tests


@pytest.mark.parametrize("models", [100, 1000])
def test_the_runnable_project_has_every_kind_every_model_tested_and_zones_in_order(
    tmp_path: Path, models: int
) -> None:
    genproject.generate_runnable(models, tmp_path)
    zone_of, kind, refs, tests = read_project(tmp_path)

    assert len(kind) == models
    counts = {k: list(kind.values()).count(k) for k in ("view", "table", "incremental")}
    assert sum(counts.values()) == models, f"only views, tables and incrementals: {counts}"
    assert all(n >= models // 20 for n in counts.values()), counts
    assert list(zone_of.values()).count("seeds") >= 2
    for seed in (tmp_path / "seeds").glob("*.csv"):
        assert seed.read_text().splitlines()[0] == "id,v"

    assert tests.keys() == kind.keys(), "every model, and only models, in the schema files"
    assert min(tests.values()) >= 1
    assert sum(tests.values()) >= 2 * models

    order = ["seeds", *genproject.ZONES]
    assert {zone_of[m] for m in kind} == set(genproject.ZONES), "models in all three zones"
    for model, parents in refs.items():
        assert parents, f"{model} reads nothing"
        for parent in parents:
            assert parent in zone_of, f"{model} reads {parent}, which does not exist"
            assert order.index(zone_of[parent]) <= order.index(zone_of[model]), f"{model} reads {parent}"
    # acyclic (a cycle raises)
    tuple(TopologicalSorter(refs).static_order())

    # the atomic zone's macros, and a profile reading its DuckDB file from the benchmark
    assert "sluice_schema" in (tmp_path / "macros" / "generate_schema_name.sql").read_text()
    assert (tmp_path / "macros" / "sluice" / "publish.sql").is_file()
    assert genproject.DUCKDB_VAR in (tmp_path / "profiles.yml").read_text()


def test_the_same_size_generates_the_same_project(tmp_path: Path) -> None:
    """The cache and every arm of one run rely on it."""
    made = []
    for name in ("one", "two"):
        genproject.generate_runnable(100, tmp_path / name)
        files = [p for p in (tmp_path / name).rglob("*") if p.is_file()]
        made.append({p.relative_to(tmp_path / name): p.read_bytes() for p in files})
    assert made[0] == made[1]
