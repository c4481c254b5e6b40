"""The publisher of each engine, keyed by the dbt adapter type."""

from __future__ import annotations

from sluice.runtime.publish.base import Engine, Publisher, PublishError
from sluice.runtime.publish.duckdb import DuckDBPublisher
from sluice.runtime.publish.postgres import PostgresPublisher
from sluice.runtime.publish.redshift import RedshiftPublisher
from sluice.runtime.publish.snowflake import SnowflakePublisher

PUBLISHERS: dict[Engine, Publisher] = {
    p.engine: p
    for p in (
        DuckDBPublisher(),
        PostgresPublisher(),
        SnowflakePublisher(),
        RedshiftPublisher(),
    )
}


def publisher_for(adapter: str) -> Publisher:
    """The publisher for a dbt adapter type; any other adapter is one error naming it."""
    try:
        return PUBLISHERS[Engine(adapter)]
    except (ValueError, KeyError):  # not an Engine, or an Engine without its publisher yet
        raise PublishError(
            f"atomic publish does not support dbt adapter '{adapter}' (supported: "
            + ", ".join(PUBLISHERS)
            + "); use publish: barrier for zones on this warehouse"
        ) from None
