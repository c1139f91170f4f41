-- Programmes per snapshot: spells chained by int_deltakelser_kjedet. A programme starts at its
-- first spell's start and ends at its last spell's end; programkommune and avslutningsaarsak
-- are the last spell's. A person belongs to the avgangskohort of their last ended programme.
with deltakelser as (
    select * from {{ ref('int_deltakelser_kjedet') }}
    where snapshot_date = {{ snapshot() }}
),

avslutningsaarsaker as (
    select * from {{ ref('avslutningsaarsaker') }}
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
    case when in_avgangskohort then year(sluttdato) end as avgangsaar,
    coalesce({{ registreringsfrist('sluttdato') }} < {{ snapshot() }}, false) as frist_passert
from final
