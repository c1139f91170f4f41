-- Registration completeness before disclosure control (nir.publication applies it), from the
-- newest passed snapshot. Its reference year is the year of the snapshot's period: endelig
-- once that year is final.
with nyeste as (
    select f.*
    from {{ ref('fct_registreringskvalitet') }} as f
    where f.snapshot_date = (select max(snapshot_date) from {{ ref('godkjente_snapshots') }})
),

frosset as (
    select aar from {{ ref('endelige_aar') }}
)

select
    n.nivaa,
    n.region,
    r.region_navn,
    n.kontroll,
    n.kontrollert,
    n.funn,
    n.andel_uten_funn,
    n.snapshot_date,
    case
        when cast(left({{ periode('n.snapshot_date') }}, 4) as integer) in (select aar from frosset)
            then 'endelig'
        else 'forelopig'
    end as status
from nyeste as n
left join {{ ref('int_regioner') }} as r on n.nivaa = r.nivaa and n.region = r.region
