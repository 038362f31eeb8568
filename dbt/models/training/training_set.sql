-- Features joined to their labels; decision times without a future price have no label and drop out.
select
    f.*,
    l.price_now,
    l.price_fwd,
    l.fwd_move,
    l.label
from {{ ref('features') }} as f
join {{ ref('labels') }} as l
    on l.market = f.market and l.ts = f.ts
order by f.ts, f.market
