"""One trivial task the benchmarks run before the measured DAG run (exec_bench.py, scale_bench.py).

A freshly started Airflow API server answers its first task-start request in about 3 s here;
a deployment that has been up for a while does not pay that, so no measured run should. The
benchmarks trigger it through the REST API and wait for it to finish.
"""

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def sluice_bench_warmup() -> None:
    @task
    def ready() -> None:
        """Nothing to do: starting and finishing it is the point."""

    ready()


sluice_bench_warmup()
