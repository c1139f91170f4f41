-- The floor of the dbt build: the same marts as the dbt project, for one snapshot, from the
-- same raw tables, as one plain DuckDB script (no dbt, no tests, no incremental merge).
--
-- Run by `nir bench` in a fresh in-memory database with the warehouse attached read-only as
-- `warehouse` and the snapshot in a variable:
--     attach 'data/.../warehouse.duckdb' as warehouse (read_only);
--     set variable snapshot = date '2025-01-01';
-- It computes the published tables *before disclosure control* (unsuppressed): the marts
-- fct_deltakelse_aar, fct_resultater_aar, fct_tiltak_aar, fct_deltakelse_maaned,
-- fct_registreringskvalitet and kontrolliste, with the staging and intermediate steps they
-- need. The publisering layer's suppression (primary and secondary prikking) is left out.
--
-- The SQL is dbt's compiled SQL of the models (target/compiled, default vars: chain gap 90
-- days, registration grace 2 months, shares need 5), flattened by hand into one script:
-- refs became plain table names, the snapshot literal became getvariable('snapshot').
-- Regenerate it when the models change: benchmarks/make_floor.py.

create or replace view stg_nir__deltakelser as
with source as (
    select * from "warehouse"."raw"."deltakelser"
    where snapshot_date = getvariable('snapshot')
),
renamed as (
    select
        snapshot_date,
        deltakelse_id,
        nir_lopenr,
        programkommune,
        startdato,
        sluttdato,
        avslutningsaarsak,
        avsluttet_av_system,
        sluttmaal,
        registrert_tid,
        avslutning_registrert_tid
    from source
)
select * from renamed
;

create or replace view stg_nir__personer as
with source as (
    select * from "warehouse"."raw"."personer"
    where snapshot_date = getvariable('snapshot')
),
renamed as (
    select
        snapshot_date,
        nir_lopenr,
        fnr_gyldig,
        kjonn,
        fodselsdato,
        landbakgrunn,
        bosatt_kommune,
        bosettingsdato,
        regelverk,
        kategori,
        skjermet,
        endret_tid
    from source
)
select * from renamed
;

create or replace table int_deltakelser_kjedet as
with deltakelser as (
    select * from stg_nir__deltakelser
),
personer as (
    select * from stg_nir__personer
),
harmonisering as (
    select * from "warehouse"."referanse"."kommune_harmonisering"
),
kommuner as (
    select * from "warehouse"."referanse"."kommuner"
),
med_person as (
    select
        d.*,
        p.kjonn,
        year(p.fodselsdato) as fodselsaar,
        p.landbakgrunn,
        p.bosatt_kommune,
        p.regelverk,
        coalesce(p.skjermet, false) as skjermet
    from deltakelser as d
    left join personer as p on d.nir_lopenr = p.nir_lopenr
),
kandidater as (
    select
        m.deltakelse_id,
        h.kommunenummer_2024,
        h.rekkefolge,
        m.bosatt_kommune,
        1 as prioritet
    from med_person as m
    inner join harmonisering as h on m.programkommune = h.kommunenummer
    union all
    select
        m.deltakelse_id,
        b.kommunenummer_2024,
        b.rekkefolge,
        m.bosatt_kommune,
        2 as prioritet
    from med_person as m
    inner join harmonisering as b on m.bosatt_kommune = b.kommunenummer and b.rekkefolge = 1
),
valgt as (
    select
        deltakelse_id,
        kommunenummer_2024 as kommune
    from kandidater
    qualify row_number() over (
        partition by deltakelse_id
        order by
            prioritet,
            coalesce(kommunenummer_2024 = bosatt_kommune, false) desc,
            rekkefolge
    ) = 1
),
harmonisert as (
    select
        m.*,
        coalesce(v.kommune, '9999') as kommune,
        exists (
            select 1 from kommuner as k
            where k.kommunenummer = m.programkommune
                and m.startdato >= k.gyldig_fra
                and (k.gyldig_til is null or m.startdato < k.gyldig_til)
        ) as kommune_gyldig
    from med_person as m
    left join valgt as v on m.deltakelse_id = v.deltakelse_id
),
med_forrige as (
    select
        *,
        max(coalesce(sluttdato, date '9999-12-31')) over (
            partition by nir_lopenr
            order by startdato, deltakelse_id
            rows between unbounded preceding and 1 preceding
        ) as forrige_slutt
    from harmonisert
),
kjedet as (
    select
        *,
        sum(
            case
                when forrige_slutt is null then 1
                when date_diff('day', forrige_slutt, startdato) > 90 then 1
                else 0
            end
        ) over (
            partition by nir_lopenr
            order by startdato, deltakelse_id
            rows between unbounded preceding and current row
        ) as program_nr
    from med_forrige
),
final as (
    select
        snapshot_date,
        deltakelse_id,
        nir_lopenr,
        cast(program_nr as integer) as program_nr,
        row_number() over (
            partition by nir_lopenr, program_nr
            order by startdato desc, coalesce(sluttdato, date '9999-12-31') desc, deltakelse_id desc
        ) = 1 as er_siste_i_program,
        row_number() over (
            partition by nir_lopenr
            order by startdato desc, coalesce(sluttdato, date '9999-12-31') desc, deltakelse_id desc
        ) = 1 as er_personens_siste,
        programkommune as programkommune_registrert,
        kommune_gyldig,
        kommune,
        case when kommune = '9999' then null else left(kommune, 2) end as fylke,
        startdato,
        sluttdato,
        avslutningsaarsak,
        avsluttet_av_system,
        sluttdato is not null
            and (avslutningsaarsak is null or avsluttet_av_system) as ikke_registrert,
        sluttmaal,
        registrert_tid,
        avslutning_registrert_tid,
        kjonn,
        fodselsaar,
        case when landbakgrunn = 'UKR' then 'Ukraina' else 'Ovrige' end as landbakgrunn_gruppe,
        regelverk,
        skjermet
    from kjedet
)
select * from final
;

create or replace table fct_programmer as
with deltakelser as (
    select * from int_deltakelser_kjedet
    where snapshot_date = getvariable('snapshot')
),
avslutningsaarsaker as (
    select * from "warehouse"."referanse"."avslutningsaarsaker"
),
programmer as (
    select
        nir_lopenr,
        program_nr,
        min(startdato) as startdato,
        count(*) as antall_deltakelser
    from deltakelser
    group by nir_lopenr, program_nr
),
siste as (
    select * from deltakelser where er_siste_i_program
),
samlet as (
    select
        s.snapshot_date,
        p.nir_lopenr,
        p.program_nr,
        p.startdato,
        s.sluttdato,
        s.kommune as programkommune,
        s.fylke,
        s.avslutningsaarsak,
        s.ikke_registrert,
        s.sluttdato is not null and not s.ikke_registrert and coalesce(a.direkte_overgang, false)
            as direkte_overgang,
        case
            when s.sluttdato is not null and not s.ikke_registrert and a.direkte_overgang
                then a.overgang_type
        end as overgang_type,
        s.skjermet,
        s.kjonn,
        s.fodselsaar,
        s.landbakgrunn_gruppe,
        p.antall_deltakelser
    from programmer as p
    inner join siste as s on p.nir_lopenr = s.nir_lopenr and p.program_nr = s.program_nr
    left join avslutningsaarsaker as a on s.avslutningsaarsak = a.kode
),
final as (
    select
        *,
        sluttdato is not null and row_number() over (
            partition by nir_lopenr, sluttdato is not null
            order by program_nr desc
        ) = 1 as in_avgangskohort
    from samlet
)
select
    snapshot_date,
    nir_lopenr,
    program_nr,
    startdato,
    sluttdato,
    programkommune,
    fylke,
    avslutningsaarsak,
    ikke_registrert,
    direkte_overgang,
    overgang_type,
    skjermet,
    kjonn,
    fodselsaar,
    landbakgrunn_gruppe,
    antall_deltakelser,
    in_avgangskohort,
    case when in_avgangskohort then year(sluttdato) end as avgangsaar
from final
;

create or replace table fct_deltakelse_aar as
with deltakelser as (
    select * from int_deltakelser_kjedet
    where snapshot_date = getvariable('snapshot')
),
programmer as (
    select * from fct_programmer
    where snapshot_date = getvariable('snapshot')
),
aar as (
    select unnest(generate_series(
        year(min(startdato)), year(getvariable('snapshot') - interval 1 day)
    )) as aar
    from deltakelser
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
    select *, 'land' as nivaa, '0000' as region from hendelser
    union all
    select *, 'fylke' as nivaa, fylke as region from hendelser
    where not skjermet and kommune <> '9999'
    union all
    select *, 'kommune' as nivaa, kommune as region from hendelser
    where not skjermet and kommune <> '9999'
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
        select distinct
            aar, maal, nivaa, region, nir_lopenr, kjonn,
            case
        when aar - fodselsaar <= 25 then '18-25'
        when aar - fodselsaar <= 35 then '26-35'
        when aar - fodselsaar <= 45 then '36-45'
        when aar - fodselsaar <= 55 then '46-55'
        else '56+'
    end as aldersgruppe
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
    select r.aar, r.nivaa, r.region, k.kjonn, g.aldersgruppe
    from (select distinct aar, nivaa, region from aggregert) as r
    cross join (values ('alle'), ('K'), ('M')) as k (kjonn)
    cross join (values ('alle'), ('18-25'), ('26-35'), ('36-45'), ('46-55'), ('56+')) as g (aldersgruppe)
)
select
    getvariable('snapshot') as snapshot_date,
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
;

create or replace table fct_deltakelse_maaned as
with deltakelser as (
    select * from int_deltakelser_kjedet
    where snapshot_date = getvariable('snapshot') and (extract(day from getvariable('snapshot')) = 1)
),
programmer as (
    select * from fct_programmer
    where snapshot_date = getvariable('snapshot') and (extract(day from getvariable('snapshot')) = 1)
),
maaned as (
    select
        strftime(getvariable('snapshot') - interval 1 day, '%Y-%m') as periode,
        cast(date_trunc('month', getvariable('snapshot') - interval 1 day) as date) as forste_dag,
        cast(getvariable('snapshot') - interval 1 day as date) as siste_dag
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
    select *, 'land' as nivaa, '0000' as region from hendelser
    union all
    select *, 'fylke' as nivaa, fylke as region from hendelser
    where not skjermet and kommune <> '9999'
    union all
    select *, 'kommune' as nivaa, kommune as region from hendelser
    where not skjermet and kommune <> '9999'
)
select
    getvariable('snapshot') as snapshot_date,
    (select periode from maaned) as periode,
    nivaa,
    region,
    count(distinct nir_lopenr) filter (where maal = 'i_program') as i_program,
    count(distinct nir_lopenr) filter (where maal = 'startet') as startet,
    count(distinct nir_lopenr) filter (where maal = 'avsluttet') as avsluttet
from regionalt
group by nivaa, region
;

create or replace view stg_nir__tiltak as
with source as (
    select * from "warehouse"."raw"."tiltak"
    where snapshot_date = getvariable('snapshot')
),
renamed as (
    select
        snapshot_date,
        tiltak_id,
        nir_lopenr,
        deltakelse_id,
        kommune,
        tiltakskode,
        fra_dato,
        til_dato,
        timer_per_uke,
        registrert_tid
    from source
)
select * from renamed
;

create or replace view stg_nir__vedtak as
with source as (
    select * from "warehouse"."raw"."vedtak"
    where snapshot_date = getvariable('snapshot')
),
renamed as (
    select
        snapshot_date,
        vedtak_id,
        nir_lopenr,
        kommune,
        ordning,
        vedtakstype,
        vedtaksdato,
        gyldig_fra,
        gyldig_til,
        registrert_tid
    from source
)
select * from renamed
;

create or replace table int_kontroller_vurdert as
with deltakelser as (
    select * from int_deltakelser_kjedet
    where snapshot_date = getvariable('snapshot')
),
personer as (
    select * from stg_nir__personer
),
vedtak as (
    select * from stg_nir__vedtak
),
tiltak as (
    select * from stg_nir__tiltak
),
harmonisering as (
    select * from "warehouse"."referanse"."kommune_harmonisering"
),
personens_kommune as (
    select nir_lopenr, kommune, skjermet
    from deltakelser
    where er_personens_siste
),
tildelinger as (
    select v.nir_lopenr, v.vedtaksdato, v.kommune
    from vedtak as v
    where v.ordning = 'INTRO' and v.vedtakstype = 'TILDELING'
    union all
    select v.nir_lopenr, v.vedtaksdato, h.kommunenummer_2024 as kommune
    from vedtak as v
    inner join harmonisering as h on v.kommune = h.kommunenummer
    where v.ordning = 'INTRO' and v.vedtakstype = 'TILDELING'
),
tiltak_per_deltakelse as (
    select deltakelse_id, count(*) as antall
    from tiltak
    group by deltakelse_id
),
spell_checks as (
    select
        d.*,
        coalesce(t.antall, 0) as antall_tiltak,
        exists (
            select 1 from tildelinger as v
            where v.nir_lopenr = d.nir_lopenr
                and (v.kommune = d.kommune or v.kommune = d.programkommune_registrert)
                and v.vedtaksdato <= d.startdato
        ) as har_vedtak
    from deltakelser as d
    left join tiltak_per_deltakelse as t on d.deltakelse_id = t.deltakelse_id
),
vurdert as (
    select
        'MANGLER_AVSLUTNINGSAARSAK' as kontroll, 'error' as alvorlighet_standard,
        nir_lopenr, deltakelse_id, cast(null as bigint) as tiltak_id, kommune, skjermet,
        ikke_registrert as har_funn,
        sluttdato as hendelsesdato,
        'Avsluttet ' || strftime(sluttdato, '%d.%m.%Y')
            || case when avsluttet_av_system then ' av systemet' else '' end
            || ' uten avslutningsaarsak' as detalj
    from spell_checks
    where sluttdato is not null
    union all
    select
        'MANGLER_VEDTAK', 'error',
        nir_lopenr, deltakelse_id, null, kommune, skjermet,
        not har_vedtak,
        startdato,
        'Ingen INTRO-tildeling for kommunen datert senest ' || strftime(startdato, '%d.%m.%Y')
    from spell_checks
    union all
    select
        'MANGLER_TILTAK', 'error',
        nir_lopenr, deltakelse_id, null, kommune, skjermet,
        antall_tiltak = 0,
        startdato,
        'Ingen tiltak registrert, deltakelse startet ' || strftime(startdato, '%d.%m.%Y')
    from spell_checks
    where date_diff('day', startdato, least(coalesce(sluttdato, snapshot_date), snapshot_date)) > 30
    union all
    select
        'MANGLER_SLUTTMAAL', 'error',
        nir_lopenr, deltakelse_id, null, kommune, skjermet,
        sluttmaal is null,
        startdato,
        'Integreringsloven, men sluttmaal mangler (start ' || strftime(startdato, '%d.%m.%Y') || ')'
    from spell_checks
    where regelverk = 'INTEGRL'
    union all
    select
        'SEN_REGISTRERING', 'warning',
        nir_lopenr, deltakelse_id, null, kommune, skjermet,
        sen_start or sen_slutt,
        case when sen_slutt then sluttdato else startdato end,
        concat_ws('; ',
            case when sen_start then 'Start registrert ' || strftime(cast(registrert_tid as date), '%d.%m.%Y')
                || ', startdato ' || strftime(startdato, '%d.%m.%Y') end,
            case when sen_slutt then 'Avslutning registrert '
                || strftime(cast(avslutning_registrert_tid as date), '%d.%m.%Y')
                || ', sluttdato ' || strftime(sluttdato, '%d.%m.%Y') end
        )
    from (
        select
            *,
            coalesce(cast(registrert_tid as date) > startdato + interval 2 month, false) as sen_start,
            coalesce(cast(avslutning_registrert_tid as date) > sluttdato + interval 2 month, false)
                as sen_slutt
        from spell_checks
    )
    union all
    select
        'UKJENT_KOMMUNE', 'error',
        nir_lopenr, deltakelse_id, null, kommune, skjermet,
        not kommune_gyldig,
        startdato,
        'Kommunenummer ' || programkommune_registrert || ' er ikke gyldig ' || strftime(startdato, '%d.%m.%Y')
    from spell_checks
    union all
    select
        'TILTAK_UTENFOR_DELTAKELSE', 'warning',
        t.nir_lopenr, t.deltakelse_id, t.tiltak_id,
        coalesce(d.kommune, pk.kommune, '9999'), coalesce(d.skjermet, pk.skjermet, false),
        d.deltakelse_id is null
            or t.fra_dato < d.startdato
            or (d.sluttdato is not null and coalesce(t.til_dato, date '9999-12-31') > d.sluttdato),
        t.fra_dato,
        'Tiltak ' || t.tiltak_id || ' (' || t.tiltakskode || ') '
            || strftime(t.fra_dato, '%d.%m.%Y') || '-' || coalesce(strftime(t.til_dato, '%d.%m.%Y'), '')
            || case
                when d.deltakelse_id is null then ' har ingen deltakelse'
                else ' utenfor deltakelsen ' || strftime(d.startdato, '%d.%m.%Y') || '-'
                    || coalesce(strftime(d.sluttdato, '%d.%m.%Y'), '')
            end
    from tiltak as t
    left join deltakelser as d on t.deltakelse_id = d.deltakelse_id
    left join personens_kommune as pk on t.nir_lopenr = pk.nir_lopenr
    union all
    select
        'UGYLDIG_FODSELSNUMMER', 'warning',
        p.nir_lopenr, null, null,
        coalesce(pk.kommune, '9999'), coalesce(pk.skjermet, p.skjermet),
        not p.fnr_gyldig,
        cast(null as date),
        'Fodselsnummer/D-nummer feiler kontrollsifrene'
    from personer as p
    left join personens_kommune as pk on p.nir_lopenr = pk.nir_lopenr
),
final as (
    select
        getvariable('snapshot') as snapshot_date,
        kontroll,
        nir_lopenr,
        deltakelse_id,
        tiltak_id,
        kommune,
        case when kommune = '9999' then null else left(kommune, 2) end as fylke,
        skjermet,
        har_funn,
        hendelsesdato,
        case
            when hendelsesdato > getvariable('snapshot') - interval 2 month then 'warning'
            else alvorlighet_standard
        end as alvorlighet,
        detalj
    from vurdert
)
select * from final
;

create or replace table kontrolliste as
with vurdert as (
    select * from int_kontroller_vurdert
    where snapshot_date = getvariable('snapshot') and har_funn
),
final as (
    select
        snapshot_date,
        any_value(kommune) as programkommune,
        nir_lopenr,
        deltakelse_id,
        kontroll,
        case when bool_or(alvorlighet = 'error') then 'error' else 'warning' end as alvorlighet,
        string_agg(detalj, '; ' order by tiltak_id) as detalj
    from vurdert
    group by snapshot_date, nir_lopenr, deltakelse_id, kontroll
)
select
    snapshot_date,
    programkommune,
    nir_lopenr,
    deltakelse_id,
    kontroll,
    alvorlighet,
    detalj
from final
;

create or replace table fct_deltakelser as
with deltakelser as (
    select * from int_deltakelser_kjedet
    where snapshot_date = getvariable('snapshot')
),
funn as (
    select distinct deltakelse_id
    from kontrolliste
    where snapshot_date = getvariable('snapshot')
        and alvorlighet = 'error'
        and deltakelse_id is not null
)
select
    d.snapshot_date,
    d.deltakelse_id,
    d.nir_lopenr,
    d.program_nr,
    d.kommune as programkommune,
    d.programkommune_registrert,
    d.fylke,
    d.startdato,
    d.sluttdato,
    d.avslutningsaarsak,
    d.avsluttet_av_system,
    d.ikke_registrert,
    d.skjermet,
    f.deltakelse_id is not null as har_error_funn
from deltakelser as d
left join funn as f on d.deltakelse_id = f.deltakelse_id
;

create or replace table fct_registreringskvalitet as
with vurdert as (
    select * from int_kontroller_vurdert
    where snapshot_date = getvariable('snapshot')
),
regionalt as (
    select *, 'land' as nivaa, '0000' as region from vurdert
    union all
    select *, 'fylke' as nivaa, fylke as region from vurdert
    where not skjermet and kommune <> '9999'
    union all
    select *, 'kommune' as nivaa, kommune as region from vurdert
    where not skjermet and kommune <> '9999'
),
aggregert as (
    select
        nivaa,
        region,
        kontroll,
        count(*) as kontrollert,
        count(*) filter (where har_funn) as funn
    from regionalt
    group by nivaa, region, kontroll
),
rutenett as (
    select r.nivaa, r.region, k.kontroll
    from (select distinct nivaa, region from aggregert) as r
    cross join (
        values
            ('MANGLER_AVSLUTNINGSAARSAK'), ('MANGLER_VEDTAK'), ('MANGLER_TILTAK'),
            ('MANGLER_SLUTTMAAL'), ('SEN_REGISTRERING'), ('TILTAK_UTENFOR_DELTAKELSE'),
            ('UGYLDIG_FODSELSNUMMER'), ('UKJENT_KOMMUNE')
    ) as k (kontroll)
)
select
    getvariable('snapshot') as snapshot_date,
    r.nivaa,
    r.region,
    r.kontroll,
    coalesce(a.kontrollert, 0) as kontrollert,
    coalesce(a.funn, 0) as funn,
    cast(case when (a.kontrollert) > 0 then round(1.0 * (coalesce(a.kontrollert, 0) - coalesce(a.funn, 0)) / (a.kontrollert), 3) end as decimal(4, 3))
        as andel_uten_funn
from rutenett as r
left join aggregert as a on r.nivaa = a.nivaa and r.region = a.region and r.kontroll = a.kontroll
;

create or replace table fct_resultater_aar as
with programmer as (
    select * from fct_programmer
    where snapshot_date = getvariable('snapshot')
),
aar as (
    select unnest(generate_series(
        year(min(startdato)), year(getvariable('snapshot') - interval 1 day)
    )) as aar
    from programmer
),
kohort as (
    select
        avgangsaar as aar, nir_lopenr, programkommune as kommune, fylke, skjermet, kjonn,
        landbakgrunn_gruppe, direkte_overgang, overgang_type, ikke_registrert
    from programmer
    where in_avgangskohort and avgangsaar in (select aar from aar)
),
regionalt as (
    select *, 'land' as nivaa, '0000' as region from kohort
    union all
    select *, 'fylke' as nivaa, fylke as region from kohort
    where not skjermet and kommune <> '9999'
    union all
    select *, 'kommune' as nivaa, kommune as region from kohort
    where not skjermet and kommune <> '9999'
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
        getvariable('snapshot') as snapshot_date,
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
    cast(case when (avsluttede) > 0 then round(1.0 * (direkte_overgang) / (avsluttede), 3) end as decimal(4, 3)) as andel_direkte_overgang
from final
;

create or replace table fct_tiltak_aar as
with deltakelser as (
    select * from int_deltakelser_kjedet
    where snapshot_date = getvariable('snapshot')
),
tiltak as (
    select * from stg_nir__tiltak
),
aar as (
    select unnest(generate_series(
        year(min(startdato)), year(getvariable('snapshot') - interval 1 day)
    )) as aar
    from deltakelser
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
    select *, 'land' as nivaa, '0000' as region from per_aar
    union all
    select *, 'fylke' as nivaa, fylke as region from per_aar
    where not skjermet and kommune <> '9999'
    union all
    select *, 'kommune' as nivaa, kommune as region from per_aar
    where not skjermet and kommune <> '9999'
)
select
    getvariable('snapshot') as snapshot_date,
    cast(aar as integer) as aar,
    nivaa,
    region,
    tiltakskode,
    count(distinct nir_lopenr) as deltakere,
    cast(round(sum(timer), 1) as decimal(12, 1)) as timer
from regionalt
group by aar, nivaa, region, tiltakskode
;

create or replace table int_regioner as
with fylker as (
    select * from "warehouse"."referanse"."fylker"
),
kommuner as (
    select * from "warehouse"."referanse"."kommuner"
    where gyldig_til is null and kommunenummer <> '9999'
)
select 'land' as nivaa, '0000' as region, 'Norge' as region_navn
union all
select 'fylke', fylkesnummer, navn from fylker
where fylkesnummer in (select distinct left(kommunenummer, 2) from kommuner)
union all
select 'kommune', kommunenummer, navn from kommuner
;
