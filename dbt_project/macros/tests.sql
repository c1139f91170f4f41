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
