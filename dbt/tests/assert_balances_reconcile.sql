-- The gold balances must add up to what silver says: booked events minus approved spend.
with gold as (
    select sum(balance) as total from {{ ref('customer_balances') }}
),

silver as (
    select
        (select coalesce(sum(signed_amount), 0) from {{ ref('payment_events') }})
        - (
            select coalesce(sum(amount), 0)
            from {{ ref('card_transactions') }}
            where status = 'approved'
        ) as total
)

select gold.total as gold_total, silver.total as silver_total
from gold cross join silver
where abs(gold.total - silver.total) > 0.005
