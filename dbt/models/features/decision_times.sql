-- The definition lives in macros/features.sql (shared with the live trader).
{{ decision_times_sql(
    ref('stg_scored_tweets'),
    ref('stg_prices'),
    var('bar_minutes'),
    var('decision_minutes'),
    var('warmup_minutes')
) }}
