"""The Markdown each task shows on its page in the Airflow UI, one function per kind of task."""

from __future__ import annotations

from collections.abc import Iterable

from sluice.manifest.reader import Node


def _described(text: str, description: str | None) -> str:
    return text + (f"\n\n{description}" if description else "")


def gateway_doc(zone: str, description: str | None) -> str:
    text = f"**Gateway of zone `{zone}`**: later zones start only when every model and "
    text += "every blocking test of this zone has passed."
    return _described(text, description)


def ingest_doc(connection: str) -> str:
    text = f"**Airbyte sync `{connection}`**: starts the connection's sync and waits for it "
    text += "on the triggerer (no worker slot held); a server when one is configured, else a local run "
    return (
        text
        + "of the connector into the DuckDB raw schema. The first zone starts when every sync has passed."
    )


def event_load_doc(stream: str) -> str:
    text = f"**Event load `{stream}`**: loads every object under the stream's S3 prefix that its load "
    text += "ledger does not hold (key and ETag). Each event is checked against the JSON Schema of its "
    text += "version: valid ones go to the raw table, the others to the quarantine table with the reason; "
    text += "the object's ledger row is written in the same transaction, so no object is loaded twice "
    return text + "and one whose load died is loaded again whole."


def archive_doc(stream: str) -> str:
    text = f"**Archival of event stream `{stream}`**: after the run, deletes raw rows older than the "
    text += "stream's hot window, only for objects still in S3 as they were loaded (same ETag); "
    return text + "the ledger counts the rows archived."


def build_doc(zone: str) -> str:
    text = f"**Build of zone `{zone}`**: one `dbt build` of the zone in the warm dbt worker. "
    text += "Each node's result (status, timing, dbt's lines) is published as XCom as dbt "
    text += "finishes it; the zone's model and test tasks wait for theirs in the triggerer and "
    text += "end there, with no worker process of their own. A failed node fails its own task; "
    text += "this task fails only when dbt could not build the zone, and then each task runs "
    return text + "its own nodes on a worker."


def _freshness_row(source: Node) -> str:
    rule = source.freshness
    warn, error = (rule.warn_after, rule.error_after) if rule else (None, None)
    loaded = f"`{source.loaded_at_field}`" if source.loaded_at_field else "its loaded_at_query"
    return f"| `{'.'.join(source.fqn[-2:])}` | {warn or '-'} | {error or '-'} | {loaded} |"


def freshness_doc(zone: str, sources: Iterable[Node]) -> str:
    rows = "\n".join(map(_freshness_row, sources))
    text = f"**Source freshness before zone `{zone}`**: `dbt source freshness` of the sources it reads. "
    text += "A source older than warn_after is logged and the zone goes on; one older than error_after "
    text += "(or one dbt cannot check) fails this task, and the zone does not run."
    return f"{text}\n\n| source | warn after | error after | loaded at |\n|---|---|---|---|\n{rows}"


def stage_doc(zone: str, schemas: Iterable[str], keep: tuple[str, ...]) -> str:
    text = f"**Stage of atomic zone `{zone}`**: a fresh staging copy of "
    text += ", ".join(f"`{s}`" for s in schemas) + " for this run's models and tests."
    return text + ("\n\nCopied from live: " + ", ".join(f"`{k}`" for k in keep) if keep else "")


def publish_doc(zone: str, description: str | None) -> str:
    text = f"**Publish of atomic zone `{zone}`**: when every model and blocking test passed, "
    text += "swaps the staging copy live in one step; otherwise it says what blocked it, "
    text += "and live stays as it was."
    return _described(text, description)


def test_doc(node: str | None, tests: Iterable[Node], blocking: bool) -> str:
    rows = "\n".join(f"| `{t.name}` | {t.severity.lower()} | `{t.original_file_path}` |" for t in tests)
    lead = f"Tests of `{node}`" if node else "Tests with no model parent"
    held = "blocking" if blocking else "warn only: never blocks"
    return f"**{lead}** ({held})\n\n| test | severity | file |\n|---|---|---|\n{rows}"


def node_doc(node: Node, kind: str) -> str:
    lines = [f"**{node.unique_id}** ({node.materialized or kind})"]
    if node.description:
        lines.append(str(node.description))
    lines.append(f"File: `{node.original_file_path}`")
    if node.tags:
        lines.append("Tags: " + ", ".join(f"`{t}`" for t in node.tags))
    return "\n\n".join(lines)
