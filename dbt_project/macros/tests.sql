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

{#- Disclosure control holds for one relation "total = sum of parts": no group has its total
    shown and exactly one part hidden (null). -#}
{% test prikking_holder(model, column_name, total, del, gruppe) %}
select {{ gruppe | join(", ") }}
from {{ model }}
group by {{ gruppe | join(", ") }}
having bool_or(({{ total }}) and {{ column_name }} is not null)
    and count(*) filter (where ({{ del }}) and {{ column_name }} is null) = 1
{% endtest %}
