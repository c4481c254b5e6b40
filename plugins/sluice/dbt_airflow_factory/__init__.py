"""`sluice import-dbt-airflow-factory`: a dbt-airflow-factory configuration folder as a sluice spec.

config.py reads the folder (``config/base`` overlaid by ``config/<env>``, file by file, as the
factory does), zones.py turns its ``save_points`` (schemas) into zones, and spec.py carries the
DAG settings, default arguments, notifications and Airbyte tasks over, listing what has no
equivalent.
"""
