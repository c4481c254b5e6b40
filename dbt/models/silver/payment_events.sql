select
    event_id,
    account_id,
    event_type,
    amount,
    case when event_type = 'withdrawal' then -amount else amount end as signed_amount,
    event_at
from {{ ref('stg_payment_events') }}
