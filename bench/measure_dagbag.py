"""Import one DAG file the way Airflow's DagBag does and print what it cost, as JSON.

Runs inside whichever virtualenv is being measured (sluice's or a peer's, Airflow 2 or 3):
python bench/measure_dagbag.py DAG_FILE. Airflow itself is imported before the clock starts,
as in the DAG processor, which imports it once and then parses files.
"""

from __future__ import annotations

import json
import resource
import sys
import time

try:  # Airflow 3
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
try:
    from airflow.serialization.serialized_objects import DagSerialization as _Serializer
except ImportError:
    from airflow.serialization.serialized_objects import SerializedDAG as _Serializer  # type: ignore[no-redef]


def main(path: str) -> None:
    started = time.perf_counter()
    bag = DagBag(dag_folder=path, include_examples=False) if _takes_examples() else DagBag(dag_folder=path)
    imported = time.perf_counter() - started
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    started = time.perf_counter()
    docs = [_Serializer.to_dict(dag) for dag in bag.dags.values()]
    serialized = time.perf_counter() - started
    size = sum(len(json.dumps(doc, default=str)) for doc in docs)
    print(
        json.dumps(
            {
                "import_s": imported,
                "serialize_s": serialized,
                "serialized_kib": size / 1024,
                "dags": len(bag.dags),
                "tasks": sum(len(d.tasks) for d in bag.dags.values()),
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def _takes_examples() -> bool:
    import inspect

    return "include_examples" in inspect.signature(DagBag.__init__).parameters


if __name__ == "__main__":
    main(sys.argv[1])
