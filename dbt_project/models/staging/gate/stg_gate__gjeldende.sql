-- The checks that currently decide each snapshot's verdict: for every suite, its newest run
-- since the snapshot's newest gate run (suite completeness). A failed disclosure audit (suite
-- avsloringskontroll) thus rejects the snapshot until the gate is run again, and a rerun of a
-- suite replaces its earlier outcome.
with resultater as (
    select * from {{ source('gate', 'resultater') }}
),

siste_gate as (
    select snapshot_date, max(kjoring_tid) as gate_tid
    from resultater
    where suite = 'completeness'
    group by snapshot_date
),

nyeste_kjoring as (
    select r.snapshot_date, r.suite, r.kjoring_id
    from resultater as r
    inner join siste_gate as g
        on r.snapshot_date = g.snapshot_date and r.kjoring_tid >= g.gate_tid
    qualify row_number() over (
        partition by r.snapshot_date, r.suite order by r.kjoring_tid desc, r.kjoring_id desc
    ) = 1
)

select r.*
from resultater as r
inner join nyeste_kjoring as n on r.kjoring_id = n.kjoring_id and r.snapshot_date = n.snapshot_date
