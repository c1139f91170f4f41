{#- Small helpers shared by the models. Each rule of statistics.md lives in one macro. -#}

{#- The snapshot being built, as a DATE: the DuckDB variable nir_snapshot, which the plugin
    nir.warehouse.dbt_session sets on every connection from NIR_SNAPSHOT (not a dbt var, so
    that dbt's partial parsing survives from one month to the next). Unit tests give it as
    the var `snapshot` in their overrides. -#}
{% macro snapshot() -%}
    {%- if var("snapshot", none) -%}
    cast('{{ var("snapshot") }}' as date)
    {%- else -%}
    cast(getvariable('nir_snapshot') as date)
    {%- endif -%}
{%- endmacro %}

{#- Whether the snapshot being built is a monthly one (taken on the 1st, contract). -#}
{% macro er_maanedlig(snapshot_expr) -%}
    (extract(day from {{ snapshot_expr }}) = 1)
{%- endmacro %}

{#- Age group at 31.12 of the year: age = year - birth year; below 18 goes into 18-25. -#}
{% macro aldersgruppe(alder) -%}
    case
        when {{ alder }} <= 25 then '18-25'
        when {{ alder }} <= 35 then '26-35'
        when {{ alder }} <= 45 then '36-45'
        when {{ alder }} <= 55 then '46-55'
        else '56+'
    end
{%- endmacro %}

{#- The registration deadline for reference year `aar` (in aar + 1). -#}
{% macro frist(aar) -%}
    {%- if var("annual_deadline_day") -%}
    make_date(cast({{ aar }} as integer) + 1, {{ var("annual_deadline_month") }}, {{ var("annual_deadline_day") }})
    {%- else -%}
    last_day(make_date(cast({{ aar }} as integer) + 1, {{ var("annual_deadline_month") }}, 1))
    {%- endif -%}
{%- endmacro %}

{#- The final snapshot of reference year `aar`: the first monthly snapshot (taken on the 1st)
    after its registration deadline. Figures of `aar` from it are frozen as endelige. -#}
{% macro endelig_snapshot(aar) -%}
    cast(date_trunc('month', {{ frist(aar) }}) + interval 1 month as date)
{%- endmacro %}

{#- The reference years a snapshot's figures cover: from the year of the earliest `startdato`
    in `relation` to the year of the snapshot's period (the day before it was taken). -#}
{% macro aar_i_snapshot(relation) -%}
    select unnest(generate_series(
        year(min(startdato)), year({{ snapshot() }} - interval 1 day)
    )) as aar
    from {{ relation }}
{%- endmacro %}

{#- The period (YYYY-MM) a snapshot reports on: the month before the day it was taken. -#}
{% macro periode(snapshot_expr) -%}
    strftime({{ snapshot_expr }} - interval 1 day, '%Y-%m')
{%- endmacro %}

{#- The registration deadline of an event on `dato`: kommuner have registration_grace_months
    to register it (integreringsforskriften § 58). Before that, a missing registration is
    not late yet. -#}
{% macro registreringsfrist(dato) -%}
    ({{ dato }} + interval {{ var('registration_grace_months') }} month)
{%- endmacro %}

{#- The fylke of a harmonised kommune: its first two digits; none for the unknown kommune. -#}
{% macro fylke(kommune) -%}
    case when {{ kommune }} = '9999' then null else left({{ kommune }}, 2) end
{%- endmacro %}

{#- Events with (kommune, fylke, skjermet) expanded to region rows: the country (everyone),
    fylke and kommune (never skjermet persons, never the unknown kommune 9999). -#}
{% macro med_regioner(relation) -%}
    select *, 'land' as nivaa, '0000' as region from {{ relation }}
    union all
    select *, 'fylke' as nivaa, fylke as region from {{ relation }}
    where not skjermet and kommune <> '9999'
    union all
    select *, 'kommune' as nivaa, kommune as region from {{ relation }}
    where not skjermet and kommune <> '9999'
{%- endmacro %}

{#- A share in [0, 1] (three decimals); null when the denominator is zero. -#}
{% macro andel(teller, nevner) -%}
    case when ({{ nevner }}) > 0 then round(1.0 * ({{ teller }}) / ({{ nevner }}), 3) end
{%- endmacro %}
