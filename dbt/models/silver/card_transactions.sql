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
-- only rows newer than what is already loaded; unique_key merges late re-deliveries
where transaction_at > (select max(transaction_at) from {{ this }})
{% endif %}
