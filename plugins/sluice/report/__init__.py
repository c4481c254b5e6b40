"""`sluice report`: dead models, bottlenecks and run timings of one pipeline.

``graph_facts`` and ``timings`` work on the plan, the manifest and plain run records (no Airflow
import); ``airflow_runs`` alone reads Airflow's metadata database; ``page`` and ``picture`` draw
the HTML page and its SVG.
"""
