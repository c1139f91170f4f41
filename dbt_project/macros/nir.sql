{#- Small helpers shared by the models. Each rule of statistics.md lives in one macro. -#}

{#- The snapshot being built (dbt var `snapshot`, YYYY-MM-DD) as a DATE literal. -#}
{% macro snapshot() -%}
    cast('{{ var("snapshot") }}' as date)
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

{#- `endelig` for figures of year `aar` from a monthly snapshot after that year's deadline. -#}
{% macro status(aar, snapshot_expr="snapshot_date") -%}
    case
        when {{ er_maanedlig(snapshot_expr) }} and {{ snapshot_expr }} > {{ frist(aar) }}
            then 'endelig'
        else 'forelopig'
    end
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

{#- Primary suppression: whether a count is hidden (1 .. threshold - 1). -#}
{% macro er_prikket(verdi) -%}
    coalesce({{ verdi }} between 1 and {{ var("suppression_threshold") }} - 1, false)
{%- endmacro %}

{#- A share in [0, 1] (three decimals); null when the denominator is zero. -#}
{% macro andel(teller, nevner) -%}
    case when ({{ nevner }}) > 0 then round(1.0 * ({{ teller }}) / ({{ nevner }}), 3) end
{%- endmacro %}

{#- Secondary suppression, one pass over one relation "total = sum of parts" in a long table
    (columns: the keys, maal, verdi, skjult). Rows are grouped by the expressions `gruppe`; in
    each group the row matching `total` is the total and the rows matching `del` its parts.
    When the total is shown and exactly one part is hidden, the smallest shown part is hidden
    too (ties broken by `orden`). Other rows pass through unchanged. -#}
{% macro sekundaer_prikking(relation, total, del, gruppe, orden) -%}
    {%- set g = gruppe | join(", ") -%}
    select * exclude (skjult, _er_del, _total_vist, _skjulte_deler, _rang),
        skjult or (
            _er_del and not skjult and _total_vist and _skjulte_deler = 1 and _rang = 1
        ) as skjult
    from (
        select *,
            coalesce({{ del }}, false) as _er_del,
            coalesce(bool_or(coalesce({{ total }}, false) and not skjult) over (partition by {{ g }}), false)
                as _total_vist,
            count(*) filter (where coalesce({{ del }}, false) and skjult) over (partition by {{ g }})
                as _skjulte_deler,
            row_number() over (
                partition by {{ g }}, (coalesce({{ del }}, false) and not skjult)
                order by verdi, {{ orden }}
            ) as _rang
        from {{ relation }}
    )
{%- endmacro %}

{#- The regional relations: kommuner within their fylke, fylker within the country. `andre`
    are the other key columns (not nivaa, region) that define a cell. -#}
{% macro regionale_pass(andre) -%}
    {%- do return([
        {"total": "nivaa = 'fylke'", "del": "nivaa = 'kommune'",
         "gruppe": andre + ["case when nivaa = 'land' then null else left(region, 2) end"],
         "orden": "region"},
        {"total": "nivaa = 'land'", "del": "nivaa = 'fylke'",
         "gruppe": andre, "orden": "region"},
    ]) -%}
{%- endmacro %}

{#- Disclosure control of a wide table `relation`: every count in `maal` is hidden when it is
    1 .. threshold-1 (primary), then the secondary passes (`passes`, each a dict for
    sekundaer_prikking) run `runder` times over the long form so that every relation holds.
    Returns a select of `keys`, the measures (hidden = null) and `prikket`. -#}
{% macro prikk_tabell(relation, keys, maal, passes, runder=6) -%}
    with _lang as (
        {% for m in maal %}
        select {{ keys | join(", ") }}, '{{ m }}' as maal, {{ m }} as verdi, {{ er_prikket(m) }} as skjult
        from {{ relation }}
        {% if not loop.last %}union all{% endif %}
        {% endfor %}
    ),
    {%- set ns = namespace(prev="_lang") %}
    {% for r in range(runder) %}{% for p in passes %}
    _pass_{{ r }}_{{ loop.index }} as (
        {{ sekundaer_prikking(ns.prev, p.total, p["del"], p.gruppe, p.orden) }}
    ),
    {%- set ns.prev = "_pass_" ~ r ~ "_" ~ loop.index %}
    {% endfor %}{% endfor %}
    _bredt as (
        select
            {{ keys | join(", ") }},
            {% for m in maal %}
            max(case when maal = '{{ m }}' and not skjult then verdi end) as {{ m }},
            {% endfor %}
            bool_or(skjult) as prikket
        from {{ ns.prev }}
        group by {{ keys | join(", ") }}
    )
    select * from _bredt
{%- endmacro %}
