"""Generate realistic dbt projects of N models and parse them with real dbt (cached).

Two shapes:

- for the parse benchmark (`ensure`): bronze staging models over sources and seeds, silver
  models joining 1-3 earlier models (some incremental, some ephemeral), gold marts over silver,
  snapshots, exposures, two or more tests per model and relationship tests spanning models.
  Its sources name tables nobody loads: it is parsed, never built.
- for the execution benchmark (`ensure_runnable`): one that `dbt build` builds on DuckDB from
  seeds alone: bronze views over seeds, silver tables, incrementals and views joining 1-3
  earlier bronze or silver models, gold tables, incrementals and views over silver and earlier
  gold, two or more tests per model, and sluice's macros (so its gold zone can publish
  atomically). No model reads a later zone.

Run: python bench/genproject.py 1000 (parse shape) or python bench/genproject.py --runnable 100
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

VERSION = 1  # bump when the generated shape changes, so cached projects are rebuilt
RUNNABLE_VERSION = 1  # the same, for the runnable shape
CACHE = Path(__file__).resolve().parent / ".cache"
REPO = Path(__file__).resolve().parents[1]
#: the zones of the runnable shape, in build order (a model reads only its own or earlier ones)
ZONES = ("bronze", "silver", "gold")
#: the variable the runnable project's profile reads its DuckDB file from
DUCKDB_VAR = "BENCH_DUCKDB"


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


def _macros_digest() -> str:
    """The repository's dbt macros the runnable projects copy: a change to them is a new project."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "dbt" / "macros").rglob("*.sql")):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:8]


def runnable_dir(models: int) -> Path:
    return CACHE / f"scale_{models}_v{RUNNABLE_VERSION}_{_macros_digest()}"


def runnable_warehouse(models: int) -> Path:
    """The DuckDB file the runnable project builds into, beside it (never inside: cosmos copies
    the project folder for each task). Fixed per project: dbt's partial parse keys on it."""
    return runnable_dir(models).with_suffix(".duckdb")


#: each zone's folder default; a model of another kind says so in its config()
FOLDER_DEFAULT = {"bronze": "view", "silver": "table", "gold": "table"}


def _materialization(zone: str, i: int) -> str:
    """Which models of a zone are views, tables and incrementals (by position, so every size
    has each kind): bronze stages seeds as views; silver and gold are mostly tables."""
    if zone == "bronze":
        return "view"
    if zone == "silver":
        return ("incremental", "table", "view", "table", "table")[i % 5]
    return {2: "incremental", 6: "view"}.get(i % 10, "table")


def generate_runnable(models: int, root: Path) -> None:
    """Write the runnable shape (see the module docstring) of ``models`` models under ``root``."""
    rng = random.Random(models)
    n_bronze, n_gold = round(models * 0.3), round(models * 0.2)
    counts = {"bronze": n_bronze, "silver": models - n_bronze - n_gold, "gold": n_gold}
    n_seeds = max(2, models // 20)
    folders = "".join(f"    {z}: {{+schema: {z}, +materialized: {FOLDER_DEFAULT[z]}}}\n" for z in ZONES)
    _write(
        root / "dbt_project.yml",
        "name: scale\nversion: '1.0'\nconfig-version: 2\nprofile: scale\n"
        "flags:\n  send_anonymous_usage_stats: false\n"
        "seeds:\n  scale:\n    +schema: raw\n    +column_types: {id: integer}\n"
        f"models:\n  scale:\n{folders}",
    )
    # threads: dbt's default; the one profile serves dbt build, sluice and cosmos alike
    _write(
        root / "profiles.yml",
        "scale:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
        f"      path: \"{{{{ env_var('{DUCKDB_VAR}') }}}}\"\n      schema: main\n      threads: 4\n",
    )
    # sluice's macros, as a user's project carries them for an atomic zone
    shutil.copytree(REPO / "dbt" / "macros", root / "macros", ignore=shutil.ignore_patterns("__pycache__"))
    for i in range(n_seeds):
        rows = "".join(f"{n},s{i}_{n}\n" for n in range(1, 11))
        _write(root / "seeds" / f"seed_{i}.csv", "id,v\n" + rows)
    built: dict[str, list[str]] = {z: [] for z in ZONES}
    for zone in ZONES:
        entries = []
        for i in range(counts[zone]):
            name = f"{zone}_{i}"
            if zone == "bronze":
                parents = [f"seed_{i % n_seeds}"]
            else:
                # silver reads bronze and earlier silver; gold reads silver and earlier gold
                pool = built["bronze" if zone == "silver" else "silver"] + built[zone][-100:]
                parents = rng.sample(pool, k=min(len(pool), rng.randint(1, 3)))
            kind = _materialization(zone, i)
            config = "" if kind == FOLDER_DEFAULT[zone] else kind
            _write(root / "models" / zone / f"{name}.sql", _model_sql(config, parents))
            built[zone].append(name)
            related = parents[:1] if zone != "bronze" and rng.random() < 0.34 else []
            entries.append(_model_tests(name, zone, related))
        _write(root / "models" / zone / f"_{zone}.yml", "version: 2\nmodels:\n" + "".join(entries))


def _model_sql(kind: str, parents: list[str]) -> str:
    """A model joining its parents on id; ``kind`` is its materialization unless the folder's."""
    config = ""
    if kind == "incremental":
        config = "{{ config(materialized='incremental', unique_key='id') }}\n"
    elif kind:
        config = f"{{{{ config(materialized='{kind}') }}}}\n"
    joins = "".join(
        f" left join {{{{ ref('{p}') }}}} p{k} on p{k}.id = p0.id" for k, p in enumerate(parents[1:], 1)
    )
    sql = f"{config}select p0.id, p0.v from {{{{ ref('{parents[0]}') }}}} p0{joins}\n"
    if kind == "incremental":
        sql += "{% if is_incremental() %}"
        sql += "where p0.id > (select coalesce(max(id), 0) from {{ this }}){% endif %}\n"
    return sql


def _model_tests(name: str, zone: str, related: list[str]) -> str:
    """unique and not_null on id; given ``related``, a relationships test to its first parent."""
    tests = "        data_tests:\n          - unique\n          - not_null\n"
    if related:
        to = f"ref('{related[0]}')"
        tests += f'          - relationships:\n              arguments: {{to: "{to}", field: id}}\n'
    return f"  - name: {name}\n    description: {zone} model {name}\n    columns:\n      - name: id\n{tests}"


def ensure_runnable(models: int) -> Path:
    """The manifest of the runnable project, made with `dbt parse` once and cached; parsed with
    its warehouse named, so every run's dbt reuses this parse (partial parse)."""
    root = runnable_dir(models)
    manifest = root / "target" / "manifest.json"
    if manifest.exists():
        return manifest
    if root.exists():
        shutil.rmtree(root)
    generate_runnable(models, root)
    env = {**os.environ, DUCKDB_VAR: str(runnable_warehouse(models))}
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [str(dbt), "parse", "--quiet", "--project-dir", str(root), "--profiles-dir", str(root)],
        check=True,
        cwd=root,
        env=env,
    )
    return manifest


if __name__ == "__main__":
    if sys.argv[1:2] == ["--runnable"]:
        for size in sys.argv[2:] or ["100"]:
            print(ensure_runnable(int(size)))
    else:
        for size in sys.argv[1:] or ["1000"]:
            print(ensure(int(size)))
