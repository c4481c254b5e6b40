select
    account_id,
    customer_id,
    upper(currency) as currency,
    opened_at,
    lower(status) as status,
    updated_at
from {{ ref('raw_accounts') }}
