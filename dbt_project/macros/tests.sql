{#- A combination of columns is unique (the primary key of a model with a compound key). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(", ") }}, count(*) as n
from {{ model }}
group by {{ columns | join(", ") }}
having count(*) > 1
{% endtest %}

{#- Every check of one model in one test (one dbt node: a node costs more to schedule than
    its queries cost to run on one snapshot). Each argument is optional:
      unique: [columns]          the combination of the columns is unique
      not_null: [columns]        none of the columns is null
      accepted_values: {column: [values]}   every non-null value is in the list
      in_kodeliste: {column: kodeliste}     every non-null value is a code of that list (seed kodelister)
      relationships: [{column, to, field, where}]   every non-null value (in rows matching
                                 `where`, if given) is a `field` of the model or seed `to`
    Returns one row per failing value: the check (`sjekk`, named as the dbt test it stands
    for), the value (`verdi`) and how many rows hold it (`antall`); nir's error names the
    checks that failed. -#}
{% test checks(model, unique=none, not_null=none, accepted_values=none, in_kodeliste=none, relationships=none) %}
{%- set parts = [] -%}
{%- if unique -%}
{%- set key = unique | join(", ") -%}
{%- do parts.append(
    "select 'unique(" ~ key ~ ")' as sjekk, concat_ws(', ', " ~ key
    ~ ") as verdi, count(*) as antall from "
    ~ model ~ " group by " ~ key ~ " having count(*) > 1") -%}
{%- endif -%}
{%- if not_null -%}
{%- set counts = [] -%}
{%- for c in not_null -%}
{%- do counts.append("count(*) filter (where " ~ c ~ " is null) as " ~ c) -%}
{%- endfor -%}
{%- do parts.append(
    "select 'not_null(' || kolonne || ')' as sjekk, null::varchar as verdi, antall_null as antall "
    ~ "from (unpivot (select " ~ (counts | join(", ")) ~ " from " ~ model ~ ") on columns(*) "
    ~ "into name kolonne value antall_null) where antall_null > 0") -%}
{%- endif -%}
{%- for column, accepted in (accepted_values or {}).items() -%}
{%- set quoted = [] -%}
{%- for v in accepted %}{% do quoted.append("'" ~ v ~ "'") %}{% endfor -%}
{%- do parts.append(
    "select 'accepted_values(" ~ column ~ ")' as sjekk, cast(" ~ column ~ " as varchar) as verdi, "
    ~ "count(*) as antall from " ~ model ~ " where " ~ column ~ " not in (" ~ (quoted | join(", "))
    ~ ") group by all") -%}
{%- endfor -%}
{%- for column, liste in (in_kodeliste or {}).items() -%}
{%- do parts.append(
    "select 'in_kodeliste(" ~ column ~ ": " ~ liste ~ ")' as sjekk, cast(" ~ column
    ~ " as varchar) as verdi, count(*) as antall from " ~ model ~ " where " ~ column
    ~ " not in (select kode from " ~ ref('kodelister') ~ " where kodeliste = '" ~ liste
    ~ "' and kode is not null) group by all") -%}
{%- endfor -%}
{%- for r in (relationships or []) -%}
{%- do parts.append(
    "select 'relationships(" ~ r.column ~ " -> " ~ r.to ~ "." ~ r.field ~ ")' as sjekk, cast("
    ~ r.column ~ " as varchar) as verdi, count(*) as antall from " ~ model ~ " where "
    ~ ("(" ~ r.where ~ ") and " if r.where else "") ~ r.column ~ " not in (select " ~ r.field
    ~ " from " ~ ref(r.to) ~ " where " ~ r.field ~ " is not null) group by all") -%}
{%- endfor -%}
{{ parts | join("\nunion all\n") }}
{% endtest %}
