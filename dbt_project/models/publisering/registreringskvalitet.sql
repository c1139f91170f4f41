-- Published registration quality per region and control, disclosure-controlled: counts
-- 1 .. threshold-1 hidden, then secondary suppression of kommuner within their fylke and fylker
-- within the country; the share only when at least min_share_denominator records were checked
-- and no count is hidden. Status: the year of the snapshot's period is the reference year.
{% set keys = ['snapshot_date', 'nivaa', 'region', 'kontroll'] %}
with fakta as (
    select * from {{ ref('fct_registreringskvalitet') }}
    where snapshot_date = {{ snapshot() }}
),

regioner as (
    select * from {{ ref('int_regioner') }}
),

prikket as (
    {{ prikk_tabell('fakta', keys, ['kontrollert', 'funn'], regionale_pass(['kontroll', 'maal'])) }}
)

select
    p.snapshot_date,
    {{ status('year(p.snapshot_date - interval 1 day)', 'p.snapshot_date') }} as status,
    p.nivaa,
    p.region,
    r.region_navn,
    p.kontroll,
    p.kontrollert,
    p.funn,
    case
        when p.kontrollert >= {{ var('min_share_denominator') }} and p.funn is not null
            then f.andel_uten_funn
    end as andel_uten_funn,
    p.prikket
from prikket as p
inner join fakta as f on p.nivaa = f.nivaa and p.region = f.region and p.kontroll = f.kontroll
left join regioner as r on p.nivaa = r.nivaa and p.region = r.region
