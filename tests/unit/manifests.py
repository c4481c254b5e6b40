"""Write tiny dbt manifests in tests: only the fields sluice reads, as dbt spells them."""

from __future__ import annotations

from typing import Any

PROJECT = "shop"
#: the macro calls atomic publish needs (dbt/macros/sluice), as a manifest's ``macros``
SLUICE_MACROS = {
    "macro.shop.generate_schema_name": {"depends_on": {"macros": ["macro.shop.sluice_schema"]}},
    "macro.shop.sluice_schema": {"depends_on": {"macros": []}},
    "macro.shop.sluice_describe": {"depends_on": {"macros": []}},
    "macro.shop.sluice_run_sql": {"depends_on": {"macros": []}},
    "macro.shop.sluice_query": {"depends_on": {"macros": []}},
}


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
    config: dict[str, Any] | None = None,
    **fields: Any,
) -> tuple[str, dict[str, Any]]:
    """One node; ``config`` adds config keys (``schema``, ``meta``, ...), ``fields`` the node's
    own keys (``group``, ``access``, ``version``, ``test_metadata``, ...)."""
    uid = f"{kind}.{package}.{name}"
    folder = {"model": "models", "seed": "seeds", "snapshot": "snapshots", "test": "tests"}[kind]
    file = path or f"{folder}/{name}.{'csv' if kind == 'seed' else 'sql'}"
    settings: dict[str, Any] = {"enabled": enabled, "tags": list(tags)}
    settings["materialized"] = materialized or {"model": "table", "seed": "seed", "test": "test"}.get(
        kind, "snapshot"
    )
    if severity:
        settings["severity"] = severity
    settings.update(config or {})
    return uid, {
        "unique_id": uid,
        "resource_type": kind,
        "package_name": package,
        "name": name,
        "fqn": [package, *file.split("/")[1:-1], name],
        "original_file_path": file,
        "tags": list(tags),
        "depends_on": {"nodes": list(deps), "macros": []},
        "config": settings,
        "description": f"the {name} {kind}",
        **fields,
    }


def source(
    uid: str,
    *,
    warn_after: tuple[int, str] | None = None,
    error_after: tuple[int, str] | None = None,
    loaded_at_field: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """A source ``source.<package>.<source>.<table>``; with a threshold, a freshness rule written
    as dbt 1.11 does, on the source and again under its config."""
    package, source_name, table = uid.split(".")[1:]

    def time(after: tuple[int, str] | None) -> dict[str, Any]:
        return {"count": after[0], "period": after[1]} if after else {"count": None, "period": None}

    rule = {"warn_after": time(warn_after), "error_after": time(error_after), "filter": None}
    fresh = {"freshness": rule, "loaded_at_field": loaded_at_field, "loaded_at_query": None}
    return uid, {
        "unique_id": uid,
        "resource_type": "source",
        "name": table,
        "source_name": source_name,
        "fqn": [package, source_name, table],
        "package_name": package,
        **fresh,
        "config": {"enabled": True, **fresh},
    }


def manifest(
    *nodes: tuple[str, dict[str, Any]], sources: tuple[str | tuple[str, dict[str, Any]], ...] = ()
) -> dict[str, Any]:
    return {
        "metadata": {"project_name": PROJECT, "adapter_type": "duckdb", "dbt_version": "1.11.0"},
        "nodes": dict(nodes),
        "sources": dict(source(s) if isinstance(s, str) else s for s in sources),
        "disabled": {},
    }


def m(name: str, package: str = PROJECT) -> str:
    return f"model.{package}.{name}"
