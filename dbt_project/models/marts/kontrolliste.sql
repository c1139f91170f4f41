-- The registration controls' findings per snapshot: one row per finding (per control and spell,
-- or per control and person for person-level findings). Several tiltak outside the same spell
-- are one finding on that spell. For the kommuner only: never published with the statistics.
with vurdert as (
    select * from {{ ref('int_kontroller_vurdert') }}
    where snapshot_date = {{ snapshot() }} and har_funn
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
