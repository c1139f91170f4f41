{#- The publishing layer: which snapshot each published figure comes from, and its status. -#}

{#- Rows of `fct` (a mart with one partition per snapshot) from passed snapshots only, the
    newest passed snapshot for each value of `partisjon` (a year, or a period). -#}
{% macro nyeste_godkjente(fct, partisjon) -%}
    select f.*
    from {{ ref(fct) }} as f
    where f.snapshot_date in (select snapshot_date from {{ ref('godkjente_snapshots') }})
    qualify f.snapshot_date = max(f.snapshot_date) over (partition by {{ partisjon }})
{%- endmacro %}

{#- The body of an append-only archive model of `fct`: the rows of every newly frozen year
    (endelige_aar), taken from the final snapshot itself (`partisjon` none: yearly tables) or,
    for a table partitioned by `partisjon` (a period), from the newest passed snapshot of each
    partition. `aar` is the SQL expression of a row's reference year, on alias `k`. -#}
{% macro arkiver(fct, aar, partisjon=none) -%}
    with frosset as (
        select aar, snapshot_date from {{ ref('endelige_aar') }}
        {% if appending() %}
        where aar not in (select distinct {{ aar }} from {{ this }} as k)
        {% endif %}
    ),

    kilde as (
        {% if partisjon %}
        {{ nyeste_godkjente(fct, partisjon) }}
        {% else %}
        select * from {{ ref(fct) }}
        {% endif %}
    )

    select k.*
    from kilde as k
    inner join frosset as e
        on {{ aar }} = e.aar
        {% if not partisjon %}and k.snapshot_date = e.snapshot_date{% endif %}
{%- endmacro %}

{#- A published table before disclosure control: frozen years from `arkiv` (status endelig),
    every other year (or period) from the newest passed snapshot that covers it (forelopig).
    `aar` is the SQL expression of a row's reference year, `partisjon` what one snapshot
    covers (a year or a period). The columns are the mart's, plus region_navn and status. -#}
{% macro publiser(fct, arkiv, aar, partisjon) -%}
    with frosset as (
        select aar from {{ ref('endelige_aar') }}
    ),

    forelopige as (
        select *, 'forelopig' as status
        from ({{ nyeste_godkjente(fct, partisjon) }}) as n
        where {{ aar }} not in (select aar from frosset)
    ),

    endelige as (
        select *, 'endelig' as status from {{ ref(arkiv) }}
    ),

    samlet as (
        select * from forelopige
        union all by name
        select * from endelige
    )

    select s.*, r.region_navn
    from samlet as s
    left join {{ ref('int_regioner') }} as r on s.nivaa = r.nivaa and s.region = r.region
{%- endmacro %}
