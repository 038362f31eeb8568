{{ config(meta={"dagster": {"ref": {"name": "labels"}}}) }}
-- Labels agree with their own prices, and price_now is the price the features saw.
select l.*
from {{ ref('labels') }} as l
left join {{ ref('features') }} as f on f.market = l.market and f.ts = l.ts
where abs(l.fwd_move - (l.price_fwd - l.price_now)) > 1e-12
   or l.label != (case when l.fwd_move > 0 then 1 else 0 end)
   or f.price is distinct from l.price_now
