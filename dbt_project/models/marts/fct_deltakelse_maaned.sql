-- Unsuppressed monthly figures, from a monthly snapshot (taken on the 1st) for the month before
-- it: persons in programme at the end of the month (a spell covering its last day), persons
-- whose programme started in the month and persons whose programme ended in it. Daily
-- snapshots produce no rows.
with deltakelser as (
    select * from {{ ref('int_deltakelser_kjedet') }}
    where snapshot_date = {{ snapshot() }} and {{ er_maanedlig(snapshot()) }}
),

programmer as (
    select * from {{ ref('fct_programmer') }}
    where snapshot_date = {{ snapshot() }} and {{ er_maanedlig(snapshot()) }}
),

maaned as (
    select
        {{ periode(snapshot()) }} as periode,
        cast(date_trunc('month', {{ snapshot() }} - interval 1 day) as date) as forste_dag,
        cast({{ snapshot() }} - interval 1 day as date) as siste_dag
),

hendelser as (
    select 'i_program' as maal, d.nir_lopenr, d.kommune, d.fylke, d.skjermet
    from deltakelser as d, maaned as m
    where d.startdato <= m.siste_dag and (d.sluttdato is null or d.sluttdato >= m.siste_dag)
    union all
    select 'startet', p.nir_lopenr, p.programkommune, p.fylke, p.skjermet
    from programmer as p, maaned as m
    where p.startdato between m.forste_dag and m.siste_dag
    union all
    select 'avsluttet', p.nir_lopenr, p.programkommune, p.fylke, p.skjermet
    from programmer as p, maaned as m
    where p.sluttdato between m.forste_dag and m.siste_dag
),

regionalt as (
    {{ med_regioner('hendelser') }}
)

select
    {{ snapshot() }} as snapshot_date,
    (select periode from maaned) as periode,
    nivaa,
    region,
    count(distinct nir_lopenr) filter (where maal = 'i_program') as i_program,
    count(distinct nir_lopenr) filter (where maal = 'startet') as startet,
    count(distinct nir_lopenr) filter (where maal = 'avsluttet') as avsluttet
from regionalt
group by nivaa, region
