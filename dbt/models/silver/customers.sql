select
    customer_id,
    concat_ws(' ', first_name, last_name) as full_name,
    email,
    country,
    created_at
from {{ ref('stg_customers') }}
