-- Typed scored tweets, one row per (market, tweet_id): re-landed or overlapping partitions must not
-- count a tweet twice.
select
    tweet_id::varchar as tweet_id,
    created_at::timestamp as created_at,
    market::varchar as market,
    coalesce(author_followers, 0)::bigint as author_followers,
    coalesce(author_verified, false)::boolean as author_verified,
    sentiment::double as sentiment,
    confidence::double as confidence,
    scorer::varchar as scorer
from {{ source('lake', 'scored_tweets') }}
where tweet_id is not null
  and created_at is not null
  and market is not null
  and sentiment is not null
  and confidence is not null
qualify row_number() over (
    partition by market, tweet_id
    order by created_at, scorer, sentiment, confidence
) = 1
