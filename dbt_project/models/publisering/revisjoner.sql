{#- The key figures whose revision is published, declared once: the model's meta
    (`noekkeltall`) carries the same list, so disclosure control and the docs read it from
    dbt's manifest. -#}
{%- set noekkeltall = [
    {'tabell': 'deltakelse_aar', 'maal': 'deltakere', 'hvor': {'kjonn': 'alle', 'aldersgruppe': 'alle'}},
    {'tabell': 'deltakelse_aar', 'maal': 'nye_deltakere', 'hvor': {'kjonn': 'alle', 'aldersgruppe': 'alle'}},
    {'tabell': 'deltakelse_aar', 'maal': 'avsluttede', 'hvor': {'kjonn': 'alle', 'aldersgruppe': 'alle'}},
    {'tabell': 'resultater_aar', 'maal': 'direkte_overgang', 'hvor': {'kjonn': 'alle', 'landbakgrunn_gruppe': 'alle'}},
] -%}
{{ config(meta={'noekkeltall': noekkeltall}) }}
-- Each key figure's first preliminary value against its final (or newest) published value.
-- The first preliminary value of year Y is the one from the first passed snapshot taken after
-- Y ended (IMDi's January extract); figures from while Y was running are partial-year counts.
with forste_snapshot as (
    -- per year and key figure: the first passed snapshot taken after the year ended
    {% for kt in noekkeltall %}
    select aar, '{{ kt.maal }}' as maal, min(snapshot_date) as forste_snapshot
    from {{ ref('fct_' ~ kt.tabell) }}
    where snapshot_date in (select snapshot_date from {{ ref('godkjente_snapshots') }})
        and snapshot_date >= make_date(aar + 1, 1, 1)
    group by aar
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

forste as (
    {% for kt in noekkeltall %}
    select f.aar, f.nivaa, f.region, '{{ kt.maal }}' as maal,
        cast(f.{{ kt.maal }} as double) as verdi
    from {{ ref('fct_' ~ kt.tabell) }} as f
    inner join forste_snapshot as s
        on s.aar = f.aar and s.maal = '{{ kt.maal }}' and f.snapshot_date = s.forste_snapshot
    where true {% for k, v in kt.hvor.items() %} and f.{{ k }} = '{{ v }}'{% endfor %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

endelig as (
    {% for kt in noekkeltall %}
    select aar, nivaa, region, '{{ kt.maal }}' as maal, cast({{ kt.maal }} as double) as verdi
    from {{ ref(kt.tabell) }}
    where true {% for k, v in kt.hvor.items() %} and {{ k }} = '{{ v }}'{% endfor %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

publisert_aar as (
    -- the snapshot and status each year is published with
    select distinct aar, snapshot_date, status from {{ ref('deltakelse_aar') }}
),

-- a region with a figure in only one of the two snapshots has 0 in the other
samlet as (
    select
        coalesce(e.aar, f.aar) as aar,
        coalesce(e.nivaa, f.nivaa) as nivaa,
        coalesce(e.region, f.region) as region,
        coalesce(e.maal, f.maal) as maal,
        coalesce(f.verdi, 0) as forste_verdi,
        coalesce(e.verdi, 0) as endelig_verdi
    from endelig as e
    full outer join forste as f
        on f.aar = e.aar and f.nivaa = e.nivaa and f.region = e.region and f.maal = e.maal
)

select
    s.aar,
    s.nivaa,
    s.region,
    r.region_navn,
    s.maal,
    s.forste_verdi,
    fs.forste_snapshot,
    s.endelig_verdi,
    s.endelig_verdi - s.forste_verdi as endring,
    p.snapshot_date,
    p.status
from samlet as s
inner join forste_snapshot as fs on fs.aar = s.aar and fs.maal = s.maal
inner join publisert_aar as p on p.aar = s.aar
left join {{ ref('int_regioner') }} as r on s.nivaa = r.nivaa and s.region = r.region
