{#-
  The one definition of every feature and label.

  dbt models call these macros with ref(...) and var(...); the live trader renders this same file with
  plain jinja2 (models/features.py) and runs it on an in-memory DuckDB connection. So, inside this file:
  arguments are relation names (or parenthesised subqueries) and numbers, and only plain Jinja is allowed:
  no ref / var / config / adapter / return / log.

  Point-in-time rules:
    * a bar [bar_start, bar_start + bar_minutes) is visible at ts only when bar_start + bar_minutes <= ts,
      i.e. a feature at ts sees tweets created strictly before ts;
    * prices are visible at ts when price.ts <= ts (ASOF join);
    * labels, and only labels, look at prices after ts.
  All timestamps are UTC-naive TIMESTAMP.
-#}

{#- Prices cleaned the same way everywhere: typed, non-null, one price per (market, ts) so ASOF joins are deterministic. -#}
{% macro clean_prices_sql(prices) -%}
select market, ts::timestamp as ts, avg(price::double) as price
from {{ prices }}
where market is not null and ts is not null and price is not null
group by market, ts::timestamp
{%- endmacro %}


{#- One row per (market, bar_start): sums, so that any window is a plain sum of bars. -#}
{% macro sentiment_bars_sql(tweets, bar_minutes) -%}
select
    market,
    time_bucket(interval '{{ bar_minutes }} minutes', created_at) as bar_start,
    count(*) as n_tweets,
    count(*) filter (where sentiment >= 0.05) as n_pos,
    count(*) filter (where sentiment <= -0.05) as n_neg,
    sum(confidence) as sum_conf,
    sum(sentiment * confidence) as sum_sent_conf,
    sum(cred_w) as sum_cred_w,
    sum(cred_w * sentiment) as sum_cred_sent,
    count(*) filter (where verified) as n_verified
from (
    select
        market,
        created_at::timestamp as created_at,
        sentiment::double as sentiment,
        confidence::double as confidence,
        coalesce(author_verified::boolean, false) as verified,
        ln(1 + greatest(coalesce(author_followers::double, 0), 0))
            * (1 + coalesce(author_verified::boolean, false)::int) as cred_w
    from {{ tweets }}
    where market is not null and created_at is not null
      and sentiment is not null and confidence is not null
) as t
group by market, bar_start
{%- endmacro %}


{#- Epoch-aligned grid per market: from the end of the first tweet's bar + warmup (and not before the first
    price) to the last price. -#}
{% macro decision_times_sql(tweets, prices, bar_minutes, decision_minutes, warmup_minutes) -%}
with first_tweet as (
    select
        market,
        time_bucket(interval '{{ bar_minutes }} minutes', min(created_at::timestamp))
            + interval '{{ bar_minutes }} minutes' + interval '{{ warmup_minutes }} minutes' as start_raw
    from {{ tweets }}
    where market is not null and created_at is not null
    group by market
),
price_span as (
    select market, min(ts) as first_price, max(ts) as last_price
    from ({{ clean_prices_sql(prices) }}) as p
    group by market
),
bounds as (
    select
        f.market,
        greatest(f.start_raw, p.first_price) as start_raw,
        time_bucket(interval '{{ decision_minutes }} minutes', p.last_price) as end_ts
    from first_tweet as f
    join price_span as p on p.market = f.market
),
ceiled as (
    select
        market,
        case
            when time_bucket(interval '{{ decision_minutes }} minutes', start_raw) = start_raw then start_raw
            else time_bucket(interval '{{ decision_minutes }} minutes', start_raw) + interval '{{ decision_minutes }} minutes'
        end as start_ts,
        end_ts
    from bounds
)
select market, unnest(generate_series(start_ts, end_ts, interval '{{ decision_minutes }} minutes')) as ts
from ceiled
where start_ts <= end_ts
order by market, ts
{%- endmacro %}


{#- Features at each (market, ts) of decision_times, from bars that ended by ts and prices at or before ts. -#}
{% macro window_features_sql(bars, prices, decision_times, bar_minutes) -%}
with dt as (
    select distinct
        market,
        ts::timestamp as ts,
        ts::timestamp - interval '1 hour' as ts_1h,
        ts::timestamp - interval '4 hours' as ts_4h
    from {{ decision_times }}
),
px as (
    {{ clean_prices_sql(prices) }}
),
win as (
    select
        d.market,
        d.ts,
        coalesce(sum(b.n_tweets) filter (where b.bar_start >= d.ts_1h), 0)::double as n_1h,
        coalesce(sum(b.n_pos) filter (where b.bar_start >= d.ts_1h), 0)::double as pos_1h,
        coalesce(sum(b.n_neg) filter (where b.bar_start >= d.ts_1h), 0)::double as neg_1h,
        coalesce(sum(b.sum_conf) filter (where b.bar_start >= d.ts_1h), 0)::double as conf_1h,
        coalesce(sum(b.sum_sent_conf) filter (where b.bar_start >= d.ts_1h), 0)::double as sc_1h,
        coalesce(sum(b.n_tweets) filter (where b.bar_start >= d.ts_4h), 0)::double as n_4h,
        coalesce(sum(b.n_verified) filter (where b.bar_start >= d.ts_4h), 0)::double as ver_4h,
        coalesce(sum(b.sum_conf) filter (where b.bar_start >= d.ts_4h), 0)::double as conf_4h,
        coalesce(sum(b.sum_sent_conf) filter (where b.bar_start >= d.ts_4h), 0)::double as sc_4h,
        coalesce(sum(b.sum_cred_w) filter (where b.bar_start >= d.ts_4h), 0)::double as cw_4h,
        coalesce(sum(b.sum_cred_sent) filter (where b.bar_start >= d.ts_4h), 0)::double as cs_4h,
        coalesce(sum(b.n_tweets), 0)::double as n_24h,
        coalesce(sum(b.sum_conf), 0)::double as conf_24h,
        coalesce(sum(b.sum_sent_conf), 0)::double as sc_24h
    from dt as d
    left join {{ bars }} as b
        on b.market = d.market
        and b.bar_start + interval '{{ bar_minutes }} minutes' <= d.ts
        and b.bar_start >= d.ts - interval '24 hours'
    group by d.market, d.ts
),
p_now as (
    select d.market, d.ts, p.price
    from dt as d asof left join px as p on p.market = d.market and p.ts <= d.ts
),
p_1h as (
    select d.market, d.ts, p.price
    from dt as d asof left join px as p on p.market = d.market and p.ts <= d.ts_1h
),
p_4h as (
    select d.market, d.ts, p.price
    from dt as d asof left join px as p on p.market = d.market and p.ts <= d.ts_4h
),
sent as (
    select
        *,
        case when conf_1h > 0 then sc_1h / conf_1h else 0 end as m_1h,
        case when conf_24h > 0 then sc_24h / conf_24h else 0 end as m_24h,
        extract(hour from ts) + extract(minute from ts) / 60.0 as hour_of_day
    from win
)
select
    s.market,
    s.ts,
    s.n_1h as n_tweets_1h,
    s.n_24h as n_tweets_24h,
    s.m_1h::double as sent_mean_1h,
    (case when s.conf_4h > 0 then s.sc_4h / s.conf_4h else 0 end)::double as sent_mean_4h,
    s.m_24h::double as sent_mean_24h,
    (s.m_1h - s.m_24h)::double as sent_shift,
    (case when s.n_1h > 0 then s.pos_1h / s.n_1h else 0 end)::double as pos_share_1h,
    (case when s.n_1h > 0 then s.neg_1h / s.n_1h else 0 end)::double as neg_share_1h,
    (case when s.cw_4h > 0 then s.cs_4h / s.cw_4h else 0 end)::double as cred_sent_4h,
    (case when s.n_4h > 0 then s.ver_4h / s.n_4h else 0 end)::double as verified_share_4h,
    (case when s.n_24h > 0 then s.n_1h * 24 / s.n_24h else 0 end)::double as volume_ratio,
    p0.price::double as price,
    coalesce(p0.price - p1.price, 0)::double as ret_1h,
    coalesce(p0.price - p4.price, 0)::double as ret_4h,
    sin(2 * pi() * s.hour_of_day / 24)::double as hour_sin,
    cos(2 * pi() * s.hour_of_day / 24)::double as hour_cos
from sent as s
join p_now as p0 on p0.market = s.market and p0.ts = s.ts
join p_1h as p1 on p1.market = s.market and p1.ts = s.ts
join p_4h as p4 on p4.market = s.market and p4.ts = s.ts
order by s.market, s.ts
{%- endmacro %}


{#- Label facts, looking forward: price_fwd is the first price at or after ts + horizon, and price_fwd_ts its own
    timestamp (later than ts + horizon across a gap in prices: training must be purged by it, not by ts + horizon).
    Rows without a forward price are dropped. The label itself (net of costs) is defined once, in models/labels.py. -#}
{% macro labels_sql(prices, decision_times, horizon_minutes) -%}
with dt as (
    select distinct
        market,
        ts::timestamp as ts,
        ts::timestamp + interval '{{ horizon_minutes }} minutes' as fwd_target
    from {{ decision_times }}
),
px as (
    {{ clean_prices_sql(prices) }}
),
now_price as (
    select d.market, d.ts, d.fwd_target, p.price as price_now
    from dt as d asof join px as p on p.market = d.market and p.ts <= d.ts
),
fwd_price as (
    select n.market, n.ts, n.price_now, p.price as price_fwd, p.ts as price_fwd_ts
    from now_price as n asof join px as p on p.market = n.market and p.ts >= n.fwd_target
)
select
    market,
    ts,
    price_now::double as price_now,
    price_fwd::double as price_fwd,
    price_fwd_ts::timestamp as price_fwd_ts,
    (price_fwd - price_now)::double as fwd_move
from fwd_price
order by market, ts
{%- endmacro %}
