-- Unsuppressed tiltak figures per year, region (the spell's harmonised kommune) and tiltakskode:
-- persons with a tiltak of that code overlapping the year, and planned hours
-- (timer_per_uke x overlapping weeks; an open tiltak runs to the end of the year).
-- Tiltak whose spell is missing count in no region (they are a control finding).
with deltakelser as (
    select * from {{ ref('int_deltakelser_kjedet') }}
    where snapshot_date = {{ snapshot() }}
),

tiltak as (
    select * from {{ ref('stg_nir__tiltak') }}
),

aar as (
    {{ aar_i_snapshot('deltakelser') }}
),

per_aar as (
    select
        a.aar,
        t.nir_lopenr,
        t.tiltakskode,
        d.kommune,
        d.fylke,
        d.skjermet,
        coalesce(t.timer_per_uke, 0) * (
            date_diff(
                'day',
                greatest(t.fra_dato, make_date(a.aar, 1, 1)),
                least(coalesce(t.til_dato, make_date(a.aar, 12, 31)), make_date(a.aar, 12, 31))
            ) + 1
        ) / 7.0 as timer
    from tiltak as t
    inner join deltakelser as d on t.deltakelse_id = d.deltakelse_id
    inner join aar as a
        on t.fra_dato <= make_date(a.aar, 12, 31)
        and (t.til_dato is null or t.til_dato >= make_date(a.aar, 1, 1))
),

regionalt as (
    {{ med_regioner('per_aar') }}
)

select
    {{ snapshot() }} as snapshot_date,
    cast(aar as integer) as aar,
    nivaa,
    region,
    tiltakskode,
    count(distinct nir_lopenr) as deltakere,
    cast(round(sum(timer), 1) as decimal(12, 1)) as timer
from regionalt
group by aar, nivaa, region, tiltakskode
