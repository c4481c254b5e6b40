"""The Airflow layer: draws a plan as a DAG. It decides nothing the plan has not decided."""
