-- Typed YES prices, one row per (market, ts). Duplicates are averaged exactly as clean_prices_sql does,
-- so the trader (which feeds raw prices to the same macro) sees the same price.
select
    market::varchar as market,
    ts::timestamp as ts,
    min(token_id)::varchar as token_id,
    avg(price::double) as price
from {{ source('lake', 'price_history') }}
where market is not null and ts is not null and price is not null
group by market::varchar, ts::timestamp
