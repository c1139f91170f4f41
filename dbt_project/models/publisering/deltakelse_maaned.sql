-- Published monthly figures, disclosure-controlled: primary suppression of each count, then
-- secondary suppression of kommuner within their fylke and fylker within the country.
-- Status: the year of the period is the reference year (endelig only from a monthly snapshot
-- after that year's deadline, so in practice forelopig until the publisher freezes it).
{% set keys = ['snapshot_date', 'periode', 'nivaa', 'region'] %}
with fakta as (
    select * from {{ ref('fct_deltakelse_maaned') }}
    where snapshot_date = {{ snapshot() }}
),

regioner as (
    select * from {{ ref('int_regioner') }}
),

prikket as (
    {{ prikk_tabell('fakta', keys, ['i_program', 'startet', 'avsluttet'], regionale_pass(['periode', 'maal'])) }}
)

select
    p.snapshot_date,
    {{ status('cast(left(p.periode, 4) as integer)', 'p.snapshot_date') }} as status,
    p.periode,
    p.nivaa,
    p.region,
    r.region_navn,
    p.i_program,
    p.startet,
    p.avsluttet,
    p.prikket
from prikket as p
left join regioner as r on p.nivaa = r.nivaa and p.region = r.region
