-- A purchase is a card authorisation on the customer's primary (lowest-numbered) account:
-- approved when it was paid (purchased_at), declined when the cart was left unpaid. The product's
-- price is the amount; its make's dealership (ref_merchants) is the merchant. A user the bank
-- holds no account for has no card, so such purchases are not card transactions.
with primary_accounts as (
    select customer_id, min(account_id) as account_id
    from {{ ref('raw_accounts') }}
    group by customer_id
)

select
    p.id as transaction_id,
    a.account_id,
    m.merchant_id,
    trim(m.merchant_name) as merchant_name,
    upper(m.merchant_country) as merchant_country,
    cast(pr.price as decimal(18, 2)) as amount,
    'EUR' as currency,
    {{ utc_timestamp('coalesce(p.purchased_at, p.added_to_cart_at, p.created_at)') }}
        as transaction_at,
    case when p.purchased_at is not null then 'approved' else 'declined' end as status
from {{ source('shop', 'purchases') }} as p
inner join primary_accounts as a on a.customer_id = p.user_id
inner join {{ source('shop', 'products') }} as pr on pr.id = p.product_id
inner join {{ ref('ref_merchants') }} as m on m.make = pr.make
