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
{% if is_incremental() and var('data_interval_start', none) %}
-- a scheduled or backfilled run loads its own data interval (sluice passes it as vars); unique_key
-- (transaction_id) replaces rows loaded before, so a re-run or a backfill loads each row once
where transaction_at >= cast('{{ var("data_interval_start")[:19] }}' as timestamp)
    and transaction_at < cast('{{ var("data_interval_end")[:19] }}' as timestamp)
{% elif is_incremental() %}
-- a run without an interval (a manual run) reloads a 3-day window behind the latest loaded
-- transaction, so late-arriving rows are picked up
where transaction_at >= {{ dateadd('day', -3, '(select max(transaction_at) from ' ~ this ~ ')') }}
{% endif %}
