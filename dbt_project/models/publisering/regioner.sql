-- Every region code of the published tables with its name and validity (SSB Klass 131):
-- the country, each fylke and each kommune, the harmonised (2024) codes being the ones valid
-- today (gyldig_til null). Older codes are kept with their validity so that an analyst can
-- read a historical number; the published tables use only the current ones.
with kommuner as (
    select * from {{ ref('kommuner') }}
    where kommunenummer <> '9999'
),

fylker as (
    select * from {{ ref('fylker') }}
),

fylke_gyldighet as (
    select
        {{ fylke('kommunenummer') }} as fylkesnummer,
        min(gyldig_fra) as gyldig_fra,
        case when bool_or(gyldig_til is null) then null else max(gyldig_til) end as gyldig_til
    from kommuner
    group by 1
),

final as (
    select
        'land' as nivaa, '0000' as region, 'Norge' as region_navn,
        cast('1900-01-01' as date) as gyldig_fra, cast(null as date) as gyldig_til
    union all
    select 'fylke', f.fylkesnummer, f.navn, g.gyldig_fra, g.gyldig_til
    from fylker as f
    inner join fylke_gyldighet as g on f.fylkesnummer = g.fylkesnummer
    union all
    select 'kommune', kommunenummer, navn, gyldig_fra, gyldig_til
    from kommuner
)

select
    cast(nivaa as varchar) as nivaa,
    cast(region as varchar) as region,
    cast(region_navn as varchar) as region_navn,
    cast(gyldig_fra as date) as gyldig_fra,
    cast(gyldig_til as date) as gyldig_til
from final
