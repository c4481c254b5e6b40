"""OpenLineage from the demo's tasks: `airflow dags test` with Airflow's OpenLineage provider
sending over HTTP to a receiver in the test, every event checked against OpenLineage's JSON
schemas (tests/data/openlineage), and the lineage graph rebuilt from the events."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from tests.integration.conftest import Sandbox

pytestmark = pytest.mark.integration
DAG = "payments_daily"
SCHEMAS = Path(__file__).parents[1] / "data" / "openlineage"
#: OpenLineage's dbt integration names its facets' schemas by a GitHub page, not by their $id
INTEGRATION_FACETS = {
    "https://github.com/OpenLineage/OpenLineage/tree/main/integration/common/openlineage/schema/"
    "dbt-exposures-dataset-facet.json": "https://raw.githubusercontent.com/OpenLineage/OpenLineage/main/"
    "integration/common/openlineage/common/schema/dbt-exposures-dataset-facet.json"
    "#/$defs/DbtExposuresDatasetFacet",
}
RAW = ("users", "products", "purchases")  # the demo's Airbyte streams (airbyte_config/)
MODELS = Path(__file__).parents[2] / "dbt" / "models"
#: the demo's models of each zone, by their folder
ZONES = {zone: {p.stem for p in (MODELS / zone).glob("*.sql")} for zone in ("bronze", "silver", "gold")}


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP endpoint taking OpenLineage events, as Marquez's /api/v1/lineage does."""
    events: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            events.append(json.loads(body))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", events
    finally:
        server.shutdown()


def _registry() -> tuple[dict[str, Any], Registry]:
    resources = []
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    core = json.loads((SCHEMAS / "OpenLineage.json").read_text())
    return core, Registry().with_resources(resources)


def invalid(event: dict[str, Any]) -> list[str]:
    """What in ``event`` breaks OpenLineage's schemas: the run event itself, and each facet
    against the schema its ``_schemaURL`` names (Airflow's own facets against the provider's)."""
    core, registry = _registry()
    problems = [
        e.message for e in jsonschema.Draft202012Validator(core, registry=registry).iter_errors(event)
    ]
    facets: list[dict[str, Any]] = [
        *event["run"].get("facets", {}).values(),
        *event["job"].get("facets", {}).values(),
    ]
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        for key in ("facets", "inputFacets", "outputFacets"):
            facets.extend(dataset.get(key, {}).values())
    for facet in facets:
        url = facet["_schemaURL"]
        if "/airflow/providers/openlineage/" in url:
            continue  # Airflow's facets: the provider's, described in its own package
        url = INTEGRATION_FACETS.get(url, url)
        try:
            registry.resolver().lookup(url)
        except Exception:
            problems.append(f"{url}: no such OpenLineage schema")
            continue
        validator = jsonschema.Draft202012Validator({"$ref": url}, registry=registry)
        problems += [f"{url}: {e.message}" for e in validator.iter_errors(facet)]
    return problems


def graph(events: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Dataset -> the datasets written from it, by the tasks' completed runs."""
    edges: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e["eventType"] != "COMPLETE":
            continue
        outs = [o["name"] for o in e.get("outputs", [])]
        for i in e.get("inputs", []):
            edges[i["name"]].update(outs)
    return edges


def reaches(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_task_emits_schema_valid_lineage_that_links_raw_to_gold(
    sandbox: Callable[..., Sandbox], receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, events = receiver
    box = sandbox()
    box.env.update(
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(
            {"type": "http", "url": url, "endpoint": "api/v1/lineage"}
        ),
        AIRFLOW__OPENLINEAGE__NAMESPACE="sluice_demo",
    )
    done = box.airflow("dags", "test", DAG)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    states = box.task_states(DAG)

    assert events, "no OpenLineage event reached the receiver"
    bad = {f"{e['job']['name']} {e['eventType']}": p for e in events if (p := invalid(e))}
    assert not bad, f"events OpenLineage's schemas refuse: {bad}"

    by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_job[e["job"]["name"]].append(e)
    # one START and one end per task that ran, named {dag_id}.{task_id}
    for task, state in states.items():
        if state != "success":
            continue
        kinds = sorted(e["eventType"] for e in by_job[f"{DAG}.{task}"])
        assert kinds.count("START") >= 1 and "COMPLETE" in kinds, f"{task}: {kinds}"

    # a model task writes its own relation, with its columns, and reads its parents
    balances = [e for e in by_job[f"{DAG}.gold.customer_balances_run"] if e["eventType"] == "COMPLETE"]
    assert balances, sorted(by_job)
    (out,) = balances[-1]["outputs"]
    assert out["name"].endswith("gold.customer_balances")
    assert out["namespace"] == f"duckdb://{box.root / 'warehouse.duckdb'}"
    columns = {f["name"] for f in out["facets"]["schema"]["fields"]}
    assert {"customer_id", "balance"} <= columns
    # the dashboard that reads it, as OpenLineage's dbt integration names it (table -> exposure)
    readers = out["facets"]["dbt_exposures"]["exposures"]
    assert [r["unique_id"] for r in readers] == ["exposure.payments.finance_daily_dashboard"]
    assert {i["name"].split(".")[-1] for i in balances[-1]["inputs"]} >= {"customers", "accounts"}

    # a test task's inputs carry its tests as data-quality assertions
    tested = [
        i
        for e in by_job[f"{DAG}.gold.customer_balances_test"]
        if e["eventType"] == "COMPLETE"
        for i in e["inputs"]
    ]
    assertions = [
        a
        for i in tested
        for a in i.get("inputFacets", {}).get("dataQualityAssertions", {}).get("assertions", [])
    ]
    assert {"unique", "not_null"} <= {a["assertion"] for a in assertions}
    assert all(a["success"] for a in assertions)

    # the sync writes the raw tables (with their row counts) that the dbt sources read
    (sync,) = [e for e in by_job[f"{DAG}.ingest.payments_raw"] if e["eventType"] == "COMPLETE"]
    loaded = {o["name"].split(".")[-1]: o for o in sync["outputs"]}
    assert set(RAW) <= set(loaded)
    assert all(loaded[t]["outputFacets"]["outputStatistics"]["rowCount"] > 0 for t in RAW)

    # the publish marks each gold relation as a new version
    (publish,) = [e for e in by_job[f"{DAG}.gold.publish"] if e["eventType"] == "COMPLETE"]
    versions = {
        o["name"].split(".")[-1]: o["facets"]["version"]["datasetVersion"] for o in publish["outputs"]
    }
    assert ZONES["gold"] <= set(versions)

    # the graph rebuilt from the events runs from every raw table through bronze and silver to gold
    edges = graph(events)
    for raw in (loaded[t]["name"] for t in RAW):
        reached = {d.split(".")[-1] for d in reaches(edges, raw)}
        assert reached & ZONES["bronze"] and reached & ZONES["silver"] and reached & ZONES["gold"], (
            raw,
            reached,
        )
    written = {d.split(".")[-1] for d in set().union(*edges.values())}
    assert ZONES["gold"] <= written
    # ... and on to the dashboard: every gold mart names the exposure that reads it
    for event in (
        publish,
        *(e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"].endswith("_run")),
    ):
        for o in event.get("outputs", []):
            if o["name"].split(".")[-1] in ZONES["gold"]:
                (reader,) = o["facets"]["dbt_exposures"]["exposures"]
                assert reader["name"] == "finance_daily_dashboard", o["name"]
