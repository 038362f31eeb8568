-- Typed market metadata, one row per market (the latest end_date wins if a market was landed twice).
select
    market::varchar as market,
    condition_id::varchar as condition_id,
    question::varchar as question,
    yes_token_id::varchar as yes_token_id,
    no_token_id::varchar as no_token_id,
    end_date::timestamp as end_date,
    tick_size::double as tick_size,
    min_order_size::double as min_order_size,
    fees_enabled::boolean as fees_enabled,
    fee_rate::double as fee_rate,
    neg_risk::boolean as neg_risk
from {{ source('lake', 'markets') }}
where market is not null
qualify row_number() over (
    partition by market
    order by end_date desc nulls last, condition_id
) = 1
