-- The latest payment status of each card purchase, from the payment_status event stream: events
-- landed in S3, checked against their JSON Schema and loaded into raw_events by sluice's load task.
with events as (
    select
        {{ json_text('event', 'event_id') }} as event_id,
        cast({{ json_text('event', 'purchase_id') }} as bigint) as purchase_id,
        {{ json_text('event', 'status') }} as status,
        {{ utc_timestamp('occurred_at') }} as status_at,
        schema_version
    from {{ source('events', 'payment_status') }}
),

ranked as (
    select
        *,
        row_number() over (partition by purchase_id order by status_at desc, event_id desc) as newest
    from events
)

select
    event_id,
    purchase_id,
    status,
    status_at,
    schema_version
from ranked
where newest = 1
