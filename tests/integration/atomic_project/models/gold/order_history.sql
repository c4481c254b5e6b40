{{ config(materialized='incremental', unique_key='order_id') }}
select order_id, customer_id, amount, order_date from {{ ref('stg_orders') }}
{% if is_incremental() %}
where order_id not in (select order_id from {{ this }})
{% endif %}
