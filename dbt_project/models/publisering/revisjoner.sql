-- Revisions of the key figures (deltakere, nye_deltakere, avsluttede at kjonn = alle and
-- aldersgruppe = alle; direkte_overgang at kjonn = alle and landbakgrunn_gruppe = alle) per year
-- and region, across the monthly snapshots in marts up to the one being built: the first value
-- (forste_verdi, forste_snapshot) against the final one (from the first monthly snapshot after
-- the year's deadline) or, until it exists, the newest one. A region absent from a snapshot
-- counts as 0 there. Values 1 .. threshold-1 are hidden, and the change with them.
with deltakelse as (
    select * from {{ ref('fct_deltakelse_aar') }}
    where snapshot_date <= {{ snapshot() }} and {{ er_maanedlig('snapshot_date') }}
        and kjonn = 'alle' and aldersgruppe = 'alle'
),

resultater as (
    select * from {{ ref('fct_resultater_aar') }}
    where snapshot_date <= {{ snapshot() }} and {{ er_maanedlig('snapshot_date') }}
        and kjonn = 'alle' and landbakgrunn_gruppe = 'alle'
),

regioner as (
    select * from {{ ref('int_regioner') }}
),

verdier as (
    select snapshot_date, aar, nivaa, region, 'deltakere' as maal, deltakere as verdi from deltakelse
    union all
    select snapshot_date, aar, nivaa, region, 'nye_deltakere', nye_deltakere from deltakelse
    union all
    select snapshot_date, aar, nivaa, region, 'avsluttede', avsluttede from deltakelse
    union all
    select snapshot_date, aar, nivaa, region, 'direkte_overgang', direkte_overgang from resultater
),

snapshots as (
    -- the snapshots that publish each year (those with a national row for it)
    select distinct snapshot_date, aar from verdier where nivaa = 'land'
),

noekler as (
    select distinct aar, nivaa, region, maal from verdier
),

rutenett as (
    select
        s.snapshot_date,
        k.aar,
        k.nivaa,
        k.region,
        k.maal,
        coalesce(v.verdi, 0) as verdi,
        {{ status('k.aar', 's.snapshot_date') }} = 'endelig' as er_endelig
    from noekler as k
    inner join snapshots as s on k.aar = s.aar
    left join verdier as v
        on s.snapshot_date = v.snapshot_date and k.aar = v.aar and k.nivaa = v.nivaa
        and k.region = v.region and k.maal = v.maal
),

revisjon as (
    select
        aar,
        nivaa,
        region,
        maal,
        arg_min(verdi, snapshot_date) as forste_verdi,
        min(snapshot_date) as forste_snapshot,
        coalesce(
            arg_min(verdi, snapshot_date) filter (where er_endelig),
            arg_max(verdi, snapshot_date)
        ) as endelig_verdi,
        bool_or(er_endelig) as har_endelig
    from rutenett
    group by aar, nivaa, region, maal
),

prikket as (
    select
        *,
        {{ er_prikket('forste_verdi') }} as forste_skjult,
        {{ er_prikket('endelig_verdi') }} as endelig_skjult
    from revisjon
)

select
    {{ snapshot() }} as snapshot_date,
    case when p.har_endelig then 'endelig' else 'forelopig' end as status,
    cast(p.aar as integer) as aar,
    p.nivaa,
    p.region,
    r.region_navn,
    p.maal,
    case when not p.forste_skjult then p.forste_verdi end as forste_verdi,
    p.forste_snapshot,
    case when not p.endelig_skjult then p.endelig_verdi end as endelig_verdi,
    case when not (p.forste_skjult or p.endelig_skjult) then p.endelig_verdi - p.forste_verdi end
        as endring,
    p.forste_skjult or p.endelig_skjult as prikket
from prikket as p
left join regioner as r on p.nivaa = r.nivaa and p.region = r.region
