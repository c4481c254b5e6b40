select
    transaction_id,
    account_id,
    merchant_id,
    trim(merchant_name) as merchant_name,
    upper(merchant_country) as merchant_country,
    cast(amount as decimal(18, 2)) as amount,
    upper(currency) as currency,
    transaction_at,
    lower(status) as status
from {{ ref('raw_card_transactions') }}
