select
    a.account_id,
    a.customer_id,
    c.country as customer_country,
    a.currency,
    a.status,
    a.opened_at,
    a.updated_at
from {{ ref('stg_accounts') }} as a
inner join {{ ref('customers') }} as c on c.customer_id = a.customer_id
