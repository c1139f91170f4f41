{#- A combination of columns is unique (the primary key of a model with a compound key). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(", ") }}, count(*) as n
from {{ model }}
group by {{ columns | join(", ") }}
having count(*) > 1
{% endtest %}

{#- Every non-null value is a code of the named code list (seed `kodelister`). -#}
{% test in_kodeliste(model, column_name, kodeliste) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and {{ column_name }} not in (
    select kode from {{ ref("kodelister") }} where kodeliste = '{{ kodeliste }}'
  )
{% endtest %}

{#- None of the columns is null: one query per model instead of one not_null test per column
    (a dbt test is a node, and each node costs more to schedule than its query costs to run).
    Returns the columns that hold nulls, with how many. -#}
{% test not_null_columns(model, columns) %}
with nuller as (
    select
        {%- for c in columns %}
        count(*) filter (where {{ c }} is null) as {{ c }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ model }}
)
select * from (unpivot nuller on columns(*) into name kolonne value antall_null)
where antall_null > 0
{% endtest %}

{#- Every value of each listed column is one of its accepted values: `values` maps a column to
    its list. One query per model instead of one accepted_values test per column (as
    not_null_columns). Returns each column's values outside its list, with how many rows hold
    them; nulls are left to the columns' not_null constraints, as accepted_values does. -#}
{% test accepted_values_columns(model, values) %}
{%- for column, accepted in values.items() %}
select '{{ column }}' as kolonne, cast({{ column }} as varchar) as verdi, count(*) as antall
from {{ model }}
where {{ column }} not in (
    {%- for v in accepted %}'{{ v }}'{% if not loop.last %}, {% endif %}{% endfor -%}
)
group by all
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endtest %}
