-- Unsuppressed results per avgangskohort year, region, kjonn and landbakgrunn group.
-- andel_direkte_overgang is a percentage of avsluttede (whose denominator includes
-- «ikke registrert» and system-closed endings).
with programmer as (
    select * from {{ ref('fct_programmer') }}
    where snapshot_date = {{ snapshot() }}
),

aar as (
    {{ aar_i_snapshot('programmer') }}
),

kohort as (
    select
        avgangsaar as aar, nir_lopenr, programkommune as kommune, fylke, skjermet, kjonn,
        landbakgrunn_gruppe, direkte_overgang, overgang_type, ikke_registrert
    from programmer
    where in_avgangskohort and avgangsaar in (select aar from aar)
),

regionalt as (
    {{ med_regioner('kohort') }}
),

aggregert as (
    select
        aar,
        nivaa,
        region,
        case when grouping(kjonn) = 1 then 'alle' else kjonn end as kjonn,
        case when grouping(landbakgrunn_gruppe) = 1 then 'alle' else landbakgrunn_gruppe end
            as landbakgrunn_gruppe,
        count(distinct nir_lopenr) as avsluttede,
        count(distinct nir_lopenr) filter (where direkte_overgang) as direkte_overgang,
        count(distinct nir_lopenr) filter (where overgang_type = 'arbeid') as overgang_arbeid,
        count(distinct nir_lopenr) filter (where overgang_type = 'utdanning') as overgang_utdanning,
        count(distinct nir_lopenr) filter (where ikke_registrert) as ikke_registrert
    from regionalt
    group by grouping sets (
        (aar, nivaa, region, kjonn, landbakgrunn_gruppe),
        (aar, nivaa, region, kjonn),
        (aar, nivaa, region, landbakgrunn_gruppe),
        (aar, nivaa, region)
    )
),

rutenett as (
    select r.aar, r.nivaa, r.region, k.kjonn, g.landbakgrunn_gruppe
    from (select distinct aar, nivaa, region from aggregert) as r
    cross join (values ('alle'), ('K'), ('M')) as k (kjonn)
    cross join (values ('alle'), ('Ukraina'), ('Ovrige')) as g (landbakgrunn_gruppe)
),

final as (
    select
        {{ snapshot() }} as snapshot_date,
        cast(r.aar as integer) as aar,
        r.nivaa,
        r.region,
        r.kjonn,
        r.landbakgrunn_gruppe,
        coalesce(a.avsluttede, 0) as avsluttede,
        coalesce(a.direkte_overgang, 0) as direkte_overgang,
        coalesce(a.overgang_arbeid, 0) as overgang_arbeid,
        coalesce(a.overgang_utdanning, 0) as overgang_utdanning,
        coalesce(a.ikke_registrert, 0) as ikke_registrert
    from rutenett as r
    left join aggregert as a
        on r.aar = a.aar and r.nivaa = a.nivaa and r.region = a.region
        and r.kjonn = a.kjonn and r.landbakgrunn_gruppe = a.landbakgrunn_gruppe
)

select
    *,
    cast({{ andel('direkte_overgang', 'avsluttede') }} as decimal(4, 3)) as andel_direkte_overgang
from final
