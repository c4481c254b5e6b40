-- users of the shop's Airbyte source; the source gives one name field, split at its first space
select
    id as customer_id,
    split_part(trim(name), ' ', 1) as first_name,
    nullif(trim(substr(trim(name), length(split_part(trim(name), ' ', 1)) + 1)), '') as last_name,
    lower(trim(email)) as email,
    upper({{ json_text('address', 'country_code') }}) as country,
    {{ utc_timestamp('created_at') }} as created_at
from {{ source('shop', 'users') }}
