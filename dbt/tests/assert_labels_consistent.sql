{{ config(meta={"dagster": {"ref": {"name": "labels"}}}) }}
-- Label facts agree with their own prices: fwd_move is price_fwd - price_now, the forward price is stamped at or
-- after ts + horizon, and price_now is the price the features saw.
select l.*
from {{ ref('labels') }} as l
left join {{ ref('features') }} as f on f.market = l.market and f.ts = l.ts
where abs(l.fwd_move - (l.price_fwd - l.price_now)) > 1e-12
   or l.price_fwd_ts < l.ts + interval '{{ var("horizon_minutes") }} minutes'
   or f.price is distinct from l.price_now
