-- The definition lives in macros/features.sql (shared with the live trader).
{{ sentiment_bars_sql(ref('stg_scored_tweets'), var('bar_minutes')) }}
