-- balance = deposits + refunds - withdrawals - approved card spend, over all of a customer's accounts.
with events as (
    select account_id, sum(signed_amount) as booked
    from {{ ref('payment_events') }}
    group by account_id
),

spend as (
    select account_id, sum(amount) as spent
    from {{ ref('card_transactions') }}
    where status = 'approved'
    group by account_id
)

select
    c.customer_id,
    c.full_name,
    count(a.account_id) as account_count,
    coalesce(sum(e.booked), 0) as net_payment_events,
    coalesce(sum(s.spent), 0) as approved_card_spend,
    coalesce(sum(e.booked), 0) - coalesce(sum(s.spent), 0) as balance
from {{ ref('customers') }} as c
left join {{ ref('accounts') }} as a on a.customer_id = c.customer_id
left join events as e on e.account_id = a.account_id
left join spend as s on s.account_id = a.account_id
group by c.customer_id, c.full_name
