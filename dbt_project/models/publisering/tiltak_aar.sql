-- Published tiltak figures, disclosure-controlled: deltakere 1 .. threshold-1 hidden (and the
-- hours with them), then secondary suppression of kommuner within their fylke and fylker
-- within the country (there is no total over tiltakskoder: a person can have several).
{% set keys = ['snapshot_date', 'aar', 'nivaa', 'region', 'tiltakskode'] %}
with fakta as (
    select * from {{ ref('fct_tiltak_aar') }}
    where snapshot_date = {{ snapshot() }}
),

regioner as (
    select * from {{ ref('int_regioner') }}
),

prikket as (
    {{ prikk_tabell('fakta', keys, ['deltakere'], regionale_pass(['aar', 'tiltakskode', 'maal'])) }}
)

select
    p.snapshot_date,
    {{ status('p.aar', 'p.snapshot_date') }} as status,
    p.aar,
    p.nivaa,
    p.region,
    r.region_navn,
    p.tiltakskode,
    p.deltakere,
    case when p.deltakere is not null then f.timer end as timer,
    p.prikket
from prikket as p
inner join fakta as f
    on p.aar = f.aar and p.nivaa = f.nivaa and p.region = f.region and p.tiltakskode = f.tiltakskode
left join regioner as r on p.nivaa = r.nivaa and p.region = r.region
