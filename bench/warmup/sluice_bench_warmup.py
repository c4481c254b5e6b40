"""One trivial task the benchmark runs before the measured DAG run (see exec_bench.py).

A freshly started Airflow API server answers its first task-start request in about 3 s here;
a deployment that has been up for a while does not pay that, so neither measured run should.
"""

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule="@once", start_date=datetime(2026, 1, 1), catchup=False, is_paused_upon_creation=False)
def sluice_bench_warmup() -> None:
    @task
    def ready() -> None:
        """Nothing to do: starting and finishing it is the point."""

    ready()


sluice_bench_warmup()
