{{ config(materialized='incremental', unique_key='transaction_id') }}

select
    transaction_id,
    account_id,
    merchant_id,
    merchant_name,
    merchant_country,
    amount,
    currency,
    transaction_at,
    cast(transaction_at as date) as transaction_date,
    status
from {{ ref('stg_card_transactions') }}
{% if is_incremental() %}
-- reload a 3-day window behind the latest loaded transaction so late-arriving rows are picked up;
-- unique_key (transaction_id) replaces the re-read rows instead of duplicating them
where transaction_at >= {{ dateadd('day', -3, '(select max(transaction_at) from ' ~ this ~ ')') }}
{% endif %}
