"""Files landing start a run: an event stream's Asset watched, in the triggerer, on the SQS queue
its bucket's notifications go to, through the common messaging provider's MessageQueueTrigger
(scheme ``sqs``: the Amazon provider's SqsSensorTrigger). Each message is deleted once received;
the run it starts loads whatever landed since the last load, so a message received twice, or
one for a file already loaded, loads nothing twice (sluice.events.ledger)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetWatcher

from sluice.plan.model import Landing

#: messages fetched per poll of the queue; a burst of files starts one run, not one per file
MAX_MESSAGES = 10


def landing_trigger(found: Landing) -> Any:
    # imported here: it initializes every provider's queue classes, which only these specs need
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    return MessageQueueTrigger(
        scheme="sqs",
        sqs_queue=found.queue_url,
        aws_conn_id=found.aws_conn_id,
        max_messages=MAX_MESSAGES,
        # long polls of 10 s, 5 s apart (the provider's default waits 60 s between empty polls)
        wait_time_seconds=10,
        waiter_delay=5,
    )


def landing_asset(found: Landing) -> Asset:
    watcher = AssetWatcher(name=f"{found.stream}_landing", trigger=landing_trigger(found))
    return Asset(uri=found.asset, name=found.asset, watchers=[watcher])
