-- The definition lives in macros/features.sql; labels are the only place that reads future prices.
{{ labels_sql(ref('stg_prices'), ref('decision_times'), var('horizon_minutes')) }}
