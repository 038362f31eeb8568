-- Every decision time sits on the epoch-aligned decision grid.
select *
from {{ ref('decision_times') }}
where epoch_us(ts) % ({{ var('decision_minutes') }} * 60 * 1000000) != 0
