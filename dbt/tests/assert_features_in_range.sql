-- Means and shares stay inside their mathematical ranges; counts are non-negative.
select *
from {{ ref('features') }}
where n_tweets_1h < 0 or n_tweets_24h < n_tweets_1h
   or abs(sent_mean_1h) > 1 + 1e-9 or abs(sent_mean_4h) > 1 + 1e-9 or abs(sent_mean_24h) > 1 + 1e-9
   or abs(cred_sent_4h) > 1 + 1e-9
   or pos_share_1h not between 0 and 1 or neg_share_1h not between 0 and 1
   or pos_share_1h + neg_share_1h > 1 + 1e-9
   or verified_share_4h not between 0 and 1
   or volume_ratio < 0
   or price not between 0 and 1
