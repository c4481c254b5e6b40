"""Write tiny dbt manifests in tests: only the fields sluice reads, as dbt spells them."""

from __future__ import annotations

from typing import Any

PROJECT = "shop"


def node(
    kind: str,
    name: str,
    deps: tuple[str, ...] = (),
    *,
    path: str | None = None,
    package: str = PROJECT,
    materialized: str | None = None,
    severity: str | None = None,
    tags: tuple[str, ...] = (),
    enabled: bool = True,
) -> tuple[str, dict[str, Any]]:
    uid = f"{kind}.{package}.{name}"
    folder = {"model": "models", "seed": "seeds", "snapshot": "snapshots", "test": "tests"}[kind]
    file = path or f"{folder}/{name}.{'csv' if kind == 'seed' else 'sql'}"
    config: dict[str, Any] = {"enabled": enabled, "tags": list(tags)}
    config["materialized"] = materialized or {"model": "table", "seed": "seed", "test": "test"}.get(
        kind, "snapshot"
    )
    if severity:
        config["severity"] = severity
    return uid, {
        "unique_id": uid,
        "resource_type": kind,
        "package_name": package,
        "name": name,
        "fqn": [package, *file.split("/")[1:-1], name],
        "original_file_path": file,
        "tags": list(tags),
        "depends_on": {"nodes": list(deps), "macros": []},
        "config": config,
        "description": f"the {name} {kind}",
    }


def manifest(*nodes: tuple[str, dict[str, Any]], sources: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "metadata": {"project_name": PROJECT, "adapter_type": "duckdb", "dbt_version": "1.11.0"},
        "nodes": dict(nodes),
        "sources": {
            s: {
                "unique_id": s,
                "resource_type": "source",
                "name": s.split(".")[-1],
                "fqn": s.split(".")[1:],
                "package_name": PROJECT,
            }
            for s in sources
        },
        "disabled": {},
    }


def m(name: str, package: str = PROJECT) -> str:
    return f"model.{package}.{name}"
