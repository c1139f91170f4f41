-- Published results per avgangskohort year, disclosure-controlled: primary suppression, then
-- secondary suppression over landbakgrunn group, kjonn, direkte_overgang = overgang_arbeid +
-- overgang_utdanning, kommuner within their fylke and fylker within the country. The share is
-- shown only when avsluttede >= min_share_denominator and neither of its counts is hidden.
{% set keys = ['snapshot_date', 'aar', 'nivaa', 'region', 'kjonn', 'landbakgrunn_gruppe'] %}
{% set maal = ['avsluttede', 'direkte_overgang', 'overgang_arbeid', 'overgang_utdanning', 'ikke_registrert'] %}
{% set passes = [
    {'total': "landbakgrunn_gruppe = 'alle'", 'del': "landbakgrunn_gruppe <> 'alle'",
     'gruppe': ['aar', 'nivaa', 'region', 'kjonn', 'maal'], 'orden': 'landbakgrunn_gruppe'},
    {'total': "kjonn = 'alle'", 'del': "kjonn <> 'alle'",
     'gruppe': ['aar', 'nivaa', 'region', 'landbakgrunn_gruppe', 'maal'], 'orden': 'kjonn'},
    {'total': "maal = 'direkte_overgang'", 'del': "maal in ('overgang_arbeid', 'overgang_utdanning')",
     'gruppe': ['aar', 'nivaa', 'region', 'kjonn', 'landbakgrunn_gruppe'], 'orden': 'maal'},
] + regionale_pass(['aar', 'kjonn', 'landbakgrunn_gruppe', 'maal']) %}
with fakta as (
    select * from {{ ref('fct_resultater_aar') }}
    where snapshot_date = {{ snapshot() }}
),

regioner as (
    select * from {{ ref('int_regioner') }}
),

prikket as (
    {{ prikk_tabell('fakta', keys, maal, passes) }}
)

select
    p.snapshot_date,
    {{ status('p.aar', 'p.snapshot_date') }} as status,
    p.aar,
    p.nivaa,
    p.region,
    r.region_navn,
    p.kjonn,
    p.landbakgrunn_gruppe,
    p.avsluttede,
    p.direkte_overgang,
    p.overgang_arbeid,
    p.overgang_utdanning,
    p.ikke_registrert,
    case
        when p.avsluttede >= {{ var('min_share_denominator') }} and p.direkte_overgang is not null
            then cast({{ andel('p.direkte_overgang', 'p.avsluttede') }} as decimal(4, 3))
    end as andel_direkte_overgang,
    p.prikket
from prikket as p
left join regioner as r on p.nivaa = r.nivaa and p.region = r.region
