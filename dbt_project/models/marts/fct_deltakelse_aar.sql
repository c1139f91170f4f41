-- Unsuppressed participation figures per reference year, region, kjonn and age group at 31.12.
-- Years: from the earliest spell start in the snapshot to the year of the snapshot's period.
with deltakelser as (
    select * from {{ ref('int_deltakelser_kjedet') }}
    where snapshot_date = {{ snapshot() }}
),

programmer as (
    select * from {{ ref('fct_programmer') }}
    where snapshot_date = {{ snapshot() }}
),

aar as (
    {{ aar_i_snapshot('deltakelser') }}
),

hendelser as (
    select a.aar, 'deltakere' as maal, d.nir_lopenr, d.kommune, d.fylke, d.skjermet, d.kjonn, d.fodselsaar
    from deltakelser as d
    inner join aar as a
        on d.startdato <= make_date(a.aar, 12, 31)
        and (d.sluttdato is null or d.sluttdato >= make_date(a.aar, 1, 1))
    union all
    select year(p.startdato), 'nye_deltakere', p.nir_lopenr, p.programkommune, p.fylke, p.skjermet,
        p.kjonn, p.fodselsaar
    from programmer as p
    where year(p.startdato) in (select aar from aar)
    union all
    select p.avgangsaar, 'avsluttede', p.nir_lopenr, p.programkommune, p.fylke, p.skjermet,
        p.kjonn, p.fodselsaar
    from programmer as p
    where p.in_avgangskohort and p.avgangsaar in (select aar from aar)
),

regionalt as (
    {{ med_regioner('hendelser') }}
),

aggregert as (
    select
        aar,
        nivaa,
        region,
        case when grouping(kjonn) = 1 then 'alle' else kjonn end as kjonn,
        case when grouping(aldersgruppe) = 1 then 'alle' else aldersgruppe end as aldersgruppe,
        count(*) filter (where maal = 'deltakere') as deltakere,
        count(*) filter (where maal = 'nye_deltakere') as nye_deltakere,
        count(*) filter (where maal = 'avsluttede') as avsluttede
    from (
        -- one row per person, measure and region in a year (kjonn and age follow the person)
        select distinct
            aar, maal, nivaa, region, nir_lopenr, kjonn,
            {{ aldersgruppe('aar - fodselsaar') }} as aldersgruppe
        from regionalt
    )
    group by grouping sets (
        (aar, nivaa, region, kjonn, aldersgruppe),
        (aar, nivaa, region, kjonn),
        (aar, nivaa, region, aldersgruppe),
        (aar, nivaa, region)
    )
),

rutenett as (
    -- every region with any figure in a year gets every kjonn x age group (zeros included)
    select r.aar, r.nivaa, r.region, k.kjonn, g.aldersgruppe
    from (select distinct aar, nivaa, region from aggregert) as r
    cross join (values ('alle'), ('K'), ('M')) as k (kjonn)
    cross join (values ('alle'), ('18-25'), ('26-35'), ('36-45'), ('46-55'), ('56+')) as g (aldersgruppe)
)

select
    {{ snapshot() }} as snapshot_date,
    cast(r.aar as integer) as aar,
    r.nivaa,
    r.region,
    r.kjonn,
    r.aldersgruppe,
    coalesce(a.deltakere, 0) as deltakere,
    coalesce(a.nye_deltakere, 0) as nye_deltakere,
    coalesce(a.avsluttede, 0) as avsluttede
from rutenett as r
left join aggregert as a
    on r.aar = a.aar and r.nivaa = a.nivaa and r.region = a.region
    and r.kjonn = a.kjonn and r.aldersgruppe = a.aldersgruppe
