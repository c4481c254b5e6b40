-- One row per merchant and calendar day, approved card transactions only.
select
    cast(merchant_id as varchar) || '-' || cast(transaction_date as varchar) as merchant_day_id,
    merchant_id,
    max(merchant_name) as merchant_name,
    transaction_date as txn_date,
    count(*) as txn_count,
    sum(amount) as total_amount
from {{ ref('card_transactions') }}
where status = 'approved'
group by merchant_id, transaction_date
