-- Two rules: three or more approved purchases of 500+ on one account within one clock hour,
-- and a purchase outside Europe in a country other than the account owner's.
with current_accounts as (
    select account_id, customer_id
    from {{ ref('accounts_snapshot') }}
    where dbt_valid_to is null
),

txns as (
    select t.*, a.customer_id, acc.customer_country
    from {{ ref('card_transactions') }} as t
    inner join current_accounts as a on a.account_id = t.account_id
    inner join {{ ref('accounts') }} as acc on acc.account_id = t.account_id
    where t.status = 'approved'
),

bursts as (
    select account_id, date_trunc('hour', transaction_at) as txn_hour
    from txns
    where amount >= 500
    group by account_id, date_trunc('hour', transaction_at)
    having count(*) >= 3
),

flagged as (
    select t.transaction_id, t.account_id, t.customer_id, t.amount, 'high_value_burst' as flag_reason
    from txns as t
    inner join bursts as b
        on b.account_id = t.account_id and b.txn_hour = date_trunc('hour', t.transaction_at)
    where t.amount >= 500
    union all
    select transaction_id, account_id, customer_id, amount, 'foreign_country' as flag_reason
    from txns
    where merchant_country <> customer_country
        and merchant_country not in ('AT', 'BE', 'CH', 'DE', 'ES', 'FR', 'GB', 'IT', 'NL', 'PT', 'SE')
)

select
    cast(transaction_id as varchar) || '-' || flag_reason as flag_id,
    transaction_id,
    account_id,
    customer_id,
    amount,
    flag_reason
from flagged
