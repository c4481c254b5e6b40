"""The Airbyte trigger's module path before it moved to ``sluice.airflow.airbyte_operator``.

A sync deferred while sluice is upgraded is stored in Airflow's database under this path; the
triggerer must still find it there, or the sync's task fails after the deploy. Remove this file
one release after the move.
"""

from sluice.airflow.airbyte_operator import AirbyteJobTrigger

__all__ = ["AirbyteJobTrigger"]
