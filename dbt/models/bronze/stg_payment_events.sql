select
    event_id,
    account_id,
    lower(event_type) as event_type,
    cast(amount as decimal(18, 2)) as amount,
    event_at
from {{ ref('raw_payment_events') }}
