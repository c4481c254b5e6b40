select
    merchant_id || '-' || cast(transaction_date as varchar) as merchant_day_id,
    merchant_id,
    max(merchant_name) as merchant_name,
    transaction_date,
    count(*) as transaction_count,
    sum(amount) as total_amount
from {{ ref('card_transactions') }}
where status = 'approved'
group by merchant_id, transaction_date
