-- Published participation figures per year, disclosure-controlled: primary suppression of
-- counts 1 .. threshold-1, then secondary suppression over the age groups within each kjonn,
-- kjonn within each age group, kommuner within their fylke and fylker within the country.
{% set keys = ['snapshot_date', 'aar', 'nivaa', 'region', 'kjonn', 'aldersgruppe'] %}
{% set passes = [
    {'total': "aldersgruppe = 'alle'", 'del': "aldersgruppe <> 'alle'",
     'gruppe': ['aar', 'nivaa', 'region', 'kjonn', 'maal'], 'orden': 'aldersgruppe'},
    {'total': "kjonn = 'alle'", 'del': "kjonn <> 'alle'",
     'gruppe': ['aar', 'nivaa', 'region', 'aldersgruppe', 'maal'], 'orden': 'kjonn'},
] + regionale_pass(['aar', 'kjonn', 'aldersgruppe', 'maal']) %}
with fakta as (
    select * from {{ ref('fct_deltakelse_aar') }}
    where snapshot_date = {{ snapshot() }}
),

regioner as (
    select * from {{ ref('int_regioner') }}
),

prikket as (
    {{ prikk_tabell('fakta', keys, ['deltakere', 'nye_deltakere', 'avsluttede'], passes) }}
)

select
    p.snapshot_date,
    {{ status('p.aar', 'p.snapshot_date') }} as status,
    p.aar,
    p.nivaa,
    p.region,
    r.region_navn,
    p.kjonn,
    p.aldersgruppe,
    p.deltakere,
    p.nye_deltakere,
    p.avsluttede,
    p.prikket
from prikket as p
left join regioner as r on p.nivaa = r.nivaa and p.region = r.region
