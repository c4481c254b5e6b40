-- built after daily_totals: a reader of live gold must never see one new and the other old
select customer_id, sum(amount) as total from {{ ref('stg_orders') }}
where order_date in (select order_date from {{ ref('daily_totals') }})
group by customer_id
