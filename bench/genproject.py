"""Generate a realistic dbt project of N models and parse it with real dbt (cached).

bronze staging models over sources and seeds, silver models joining 1-3 earlier models (some
incremental, some ephemeral), gold marts over silver, snapshots, exposures, two or more tests
per model and relationship tests spanning models. Run: python bench/genproject.py 1000
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

VERSION = 1  # bump when the generated shape changes, so cached projects are rebuilt
CACHE = Path(__file__).resolve().parent / ".cache"


def project_dir(models: int) -> Path:
    return CACHE / f"project_{models}_v{VERSION}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def generate(models: int, root: Path) -> None:
    rng = random.Random(models)
    n_bronze, n_gold = int(models * 0.3), int(models * 0.25)
    n_silver = models - n_bronze - n_gold
    n_sources, n_seeds = max(1, models // 20), max(1, models // 100)
    _write(
        root / "dbt_project.yml",
        "name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\n"
        "models:\n  bench:\n    bronze: {+materialized: view}\n    silver: {+materialized: table}\n"
        "    gold: {+materialized: table}\n",
    )
    _write(
        root / "profiles.yml",
        "bench:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
        "      path: \"{{ env_var('BENCH_DUCKDB', 'target/bench.duckdb') }}\"\n      threads: 1\n",
    )
    tables = "\n".join(f"      - name: t{i}" for i in range(n_sources))
    _write(
        root / "models" / "bronze" / "_sources.yml",
        f"version: 2\nsources:\n  - name: raw\n    tables:\n{tables}\n",
    )
    for i in range(n_seeds):
        _write(root / "seeds" / f"seed_{i}.csv", "id,v\n1,a\n2,b\n3,c\n")

    layers: dict[str, list[str]] = {"bronze": [], "silver": [], "gold": []}
    schema: dict[str, list[str]] = {"bronze": [], "silver": [], "gold": []}

    def add(layer: str, name: str, sql: str, parents: list[str]) -> None:
        _write(root / "models" / layer / f"{name}.sql", sql)
        layers[layer].append(name)
        tests = "        data_tests: [unique, not_null]\n"
        if parents and rng.random() < 0.34:
            tests = (
                "        data_tests:\n          - unique\n          - not_null\n          - relationships:\n"
                f"              arguments: {{to: \"ref('{parents[0]}')\", field: id}}\n"
            )
        head = f"  - name: {name}\n    description: {layer} model {name}\n"
        schema[layer].append(f"{head}    columns:\n      - name: id\n{tests}")

    for i in range(n_bronze):
        if i % 7 == 0:
            src = f"{{{{ ref('seed_{i % n_seeds}') }}}}"
        else:
            src = f"{{{{ source('raw', 't{i % n_sources}') }}}}"
        add("bronze", f"stg_{i}", f"select id, v from {src}\n", [])
    ephemerals: set[str] = set()
    for i in range(n_silver):
        pool = layers["bronze"] + [m for m in layers["silver"] if m not in ephemerals][-200:]
        parents = rng.sample(pool, k=min(len(pool), rng.randint(1, 3)))
        name = f"int_{i}"
        config = ""
        if i % 50 == 7:
            config = "{{ config(materialized='incremental', unique_key='id') }}\n"
        elif i % 50 == 23:
            config = "{{ config(materialized='ephemeral') }}\n"
            ephemerals.add(name)
        joins = "".join(
            f" left join {{{{ ref('{p}') }}}} p{k} on p{k}.id = p0.id" for k, p in enumerate(parents[1:], 1)
        )
        add(
            "silver",
            name,
            f"{config}select p0.id, p0.v from {{{{ ref('{parents[0]}') }}}} p0{joins}\n",
            parents,
        )
    for i in range(n_gold):
        parents = rng.sample(layers["silver"], k=min(len(layers["silver"]), rng.randint(1, 3)))
        joins = "".join(
            f" join {{{{ ref('{p}') }}}} p{k} on p{k}.id = p0.id" for k, p in enumerate(parents[1:], 1)
        )
        add(
            "gold",
            f"mart_{i}",
            f"select p0.id, count(*) as n from {{{{ ref('{parents[0]}') }}}} p0{joins} group by 1\n",
            parents,
        )
    for layer, entries in schema.items():
        _write(root / "models" / layer / f"_{layer}.yml", "version: 2\nmodels:\n" + "".join(entries))
    snaps = "".join(
        f"  - name: snap_{i}\n    relation: ref('stg_{i}')\n    config:\n      unique_key: id\n"
        f"      strategy: check\n      check_cols: all\n"
        for i in range(max(1, models // 200))
    )
    _write(root / "snapshots" / "snapshots.yml", "snapshots:\n" + snaps)
    exposures = "".join(
        f"  - name: dash_{i}\n    type: dashboard\n    owner: {{name: bi, email: bi@example.com}}\n"
        f"    depends_on: [\"ref('mart_{i}')\"]\n"
        for i in range(max(1, models // 100))
    )
    _write(root / "models" / "gold" / "_exposures.yml", "version: 2\nexposures:\n" + exposures)


def ensure(models: int) -> Path:
    """The manifest of the generated project, made with `dbt parse` once and cached."""
    root = project_dir(models)
    manifest = root / "target" / "manifest.json"
    if manifest.exists():
        return manifest
    if root.exists():
        shutil.rmtree(root)
    generate(models, root)
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [
            str(dbt),
            "parse",
            "--quiet",
            "--no-partial-parse",
            "--project-dir",
            str(root),
            "--profiles-dir",
            str(root),
        ],
        check=True,
        cwd=root,
    )
    return manifest


if __name__ == "__main__":
    for size in sys.argv[1:] or ["1000"]:
        print(ensure(int(size)))
