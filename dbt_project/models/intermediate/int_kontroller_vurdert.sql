-- Every record checked by each registration control of statistics.md, with whether it has a
-- finding. The controls' list and severities are the seed `kontroller`
-- (nir.contracts.kontroller); this model holds only how each one finds its records. One row per (kontroll, record): spells for the spell controls, persons for
-- UGYLDIG_FODSELSNUMMER, tiltak for TILTAK_UTENFOR_DELTAKELSE. `hendelsesdato` is the date of
-- the event the finding is about: a finding about an event less than
-- registration_grace_months before the snapshot is only a warning (the kommune is not late).
with deltakelser as (
    select * from {{ ref('int_deltakelser_kjedet') }}
    where snapshot_date = {{ snapshot() }}
),

personer as (
    select * from {{ ref('stg_nir__personer') }}
),

vedtak as (
    select * from {{ ref('stg_nir__vedtak') }}
),

tiltak as (
    select * from {{ ref('stg_nir__tiltak') }}
),

harmonisering as (
    select * from {{ ref('kommune_harmonisering') }}
),

kontroller as (
    -- each control's severity (nir.contracts.kontroller, via the seed)
    select * from {{ ref('kontroller') }}
),

personens_kommune as (
    -- the (harmonised) kommune of each person's latest spell
    select nir_lopenr, kommune, skjermet
    from deltakelser
    where er_personens_siste
),

tildelinger as (
    -- INTRO TILDELING vedtak, with every 2024 code their kommune maps to (and the raw code)
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
        'MANGLER_AVSLUTNINGSAARSAK' as kontroll,
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
        'MANGLER_VEDTAK',
        nir_lopenr, deltakelse_id, null, kommune, skjermet,
        not har_vedtak,
        startdato,
        'Ingen INTRO-tildeling for kommunen datert senest ' || strftime(startdato, '%d.%m.%Y')
    from spell_checks

    union all
    select
        'MANGLER_TILTAK',
        nir_lopenr, deltakelse_id, null, kommune, skjermet,
        antall_tiltak = 0,
        startdato,
        'Ingen tiltak registrert, deltakelse startet ' || strftime(startdato, '%d.%m.%Y')
    from spell_checks
    where date_diff('day', startdato, least(coalesce(sluttdato, snapshot_date), snapshot_date)) > 30

    union all
    select
        'MANGLER_SLUTTMAAL',
        nir_lopenr, deltakelse_id, null, kommune, skjermet,
        sluttmaal is null,
        startdato,
        'Integreringsloven, men sluttmaal mangler (start ' || strftime(startdato, '%d.%m.%Y') || ')'
    from spell_checks
    where regelverk = 'INTEGRL'

    union all
    select
        'SEN_REGISTRERING',
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
            coalesce(cast(registrert_tid as date) > {{ registreringsfrist('startdato') }}, false) as sen_start,
            coalesce(cast(avslutning_registrert_tid as date) > {{ registreringsfrist('sluttdato') }}, false)
                as sen_slutt
        from spell_checks
    )

    union all
    select
        'UKJENT_KOMMUNE',
        nir_lopenr, deltakelse_id, null, kommune, skjermet,
        not kommune_gyldig,
        startdato,
        'Kommunenummer ' || programkommune_registrert || ' er ikke gyldig ' || strftime(startdato, '%d.%m.%Y')
    from spell_checks

    union all
    select
        'TILTAK_UTENFOR_DELTAKELSE',
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
        'UGYLDIG_FODSELSNUMMER',
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
        {{ snapshot() }} as snapshot_date,
        kontroll,
        nir_lopenr,
        deltakelse_id,
        tiltak_id,
        kommune,
        {{ fylke('kommune') }} as fylke,
        skjermet,
        har_funn,
        hendelsesdato,
        case
            when {{ registreringsfrist('hendelsesdato') }} > {{ snapshot() }} then 'warning'
            else k.alvorlighet
        end as alvorlighet,
        detalj
    from vurdert as v
    left join kontroller as k on v.kontroll = k.kode  -- a control missing there: null, tested
)

select * from final
