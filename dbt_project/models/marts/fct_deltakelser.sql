-- Spells per snapshot with their programme, harmonised kommune and whether the spell has an
-- `error` finding in the control list (for the publication gate).
with deltakelser as (
    select * from {{ ref('int_deltakelser_kjedet') }}
    where snapshot_date = {{ snapshot() }}
),

funn as (
    select distinct deltakelse_id
    from {{ ref('kontrolliste') }}
    where snapshot_date = {{ snapshot() }}
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
