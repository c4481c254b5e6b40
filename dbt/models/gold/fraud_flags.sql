-- One row per approved card transaction that trips at least one rule:
--   high_value_burst: 3+ approved purchases of >= 500 on one account within the same clock hour
--   foreign_country:  merchant country differs from the owner's and is outside our European footprint
--   closed_account:   the account is closed according to the current snapshot row
with current_accounts as (
    select account_id, customer_id, status
    from {{ ref('accounts_snapshot') }}
    where dbt_valid_to is null
),

txns as (
    select
        t.transaction_id,
        t.account_id,
        ca.customer_id,
        t.amount,
        t.transaction_at,
        t.merchant_country,
        acc.customer_country,
        ca.status as account_status
    from {{ ref('card_transactions') }} as t
    inner join current_accounts as ca on ca.account_id = t.account_id
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

rules as (
    select
        t.transaction_id,
        t.account_id,
        t.customer_id,
        t.amount,
        t.transaction_at,
        case when b.account_id is not null and t.amount >= 500 then true else false end as is_high_value_burst,
        case
            when t.merchant_country <> t.customer_country
                and t.merchant_country not in ('AT', 'BE', 'CH', 'DE', 'ES', 'FR', 'GB', 'IT', 'NL', 'PT', 'SE')
                then true
            else false
        end as is_foreign_country,
        case when t.account_status = 'closed' then true else false end as is_closed_account
    from txns as t
    left join bursts as b
        on b.account_id = t.account_id and b.txn_hour = date_trunc('hour', t.transaction_at)
)

select
    transaction_id,
    account_id,
    customer_id,
    amount,
    transaction_at,
    rtrim(
        case when is_high_value_burst then 'high_value_burst,' else '' end
        || case when is_foreign_country then 'foreign_country,' else '' end
        || case when is_closed_account then 'closed_account,' else '' end,
        ','
    ) as flag_reason,
    is_high_value_burst,
    is_foreign_country,
    is_closed_account
from rules
where is_high_value_burst or is_foreign_country or is_closed_account
