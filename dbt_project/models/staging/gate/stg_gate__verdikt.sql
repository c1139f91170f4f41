-- One row per snapshot the gate has judged: passed when no current check (stg_gate__gjeldende)
-- with severity hard failed.
select
    snapshot_date,
    bool_and(bestatt or alvorlighet <> 'hard') as bestatt,
    max(kjoring_tid) as siste_kjoring,
    {{ er_maanedlig('snapshot_date') }} as maanedlig
from {{ ref('stg_gate__gjeldende') }}
group by snapshot_date
