-- Spells of the snapshot, harmonised to the 2024 kommune structure and chained into programmes.
--   * harmonisation: through kommune_harmonisering; for a split (1507) the successor equal to
--     the person's bosatt_kommune, else the first one (1508). A code that cannot be harmonised
--     falls back to the person's (harmonised) bosatt_kommune, else 9999 (uoppgitt).
--   * chaining: a spell starting at most chain_gap_days after the latest end of the person's
--     earlier spells (in any kommune) continues that programme; an open earlier spell always does.
with deltakelser as (
    select * from {{ ref('stg_nir__deltakelser') }}
),

personer as (
    select * from {{ ref('stg_nir__personer') }}
),

harmonisering as (
    select * from {{ ref('kommune_harmonisering') }}
),

kommuner as (
    select * from {{ ref('kommuner') }}
),

med_person as (
    select
        d.*,
        p.kjonn,
        p.fodselsaar,
        p.landbakgrunn,
        p.bosatt_kommune,
        p.regelverk,
        coalesce(p.skjermet, false) as skjermet
    from deltakelser as d
    left join personer as p on d.nir_lopenr = p.nir_lopenr
),

kandidater as (
    -- every possible 2024 code for the spell's kommune and for the person's bosatt_kommune
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
                when date_diff('day', forrige_slutt, startdato) > {{ var('chain_gap_days') }} then 1
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
        {{ fylke('kommune') }} as fylke,
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
