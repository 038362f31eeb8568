-- Features joined to their label facts; decision times without a future price drop out. The label itself
-- (net of costs, with a no-trade band) is computed in Python: models/labels.py.
select
    f.*,
    l.price_now,
    l.price_fwd,
    l.price_fwd_ts,
    l.fwd_move
from {{ ref('features') }} as f
join {{ ref('labels') }} as l
    on l.market = f.market and l.ts = f.ts
order by f.ts, f.market
