-- The definition lives in macros/features.sql (shared with the live trader).
{{ window_features_sql(
    ref('sentiment_bars'),
    ref('stg_prices'),
    ref('decision_times'),
    var('bar_minutes')
) }}
