{{ config(materialized='append_only') }}
-- Reference years whose figures are final: a year is frozen from its final snapshot (the first
-- monthly snapshot after its deadline, macro endelig_snapshot) once that snapshot has passed
-- the gate. Append-only: a frozen year is never rewritten, whatever is loaded later.
with godkjent as (
    select snapshot_date from {{ ref('godkjente_snapshots') }}
),

aar as (
    select distinct aar from {{ ref('fct_deltakelse_aar') }}
    where snapshot_date in (select snapshot_date from godkjent)
)

select
    cast(aar as integer) as aar,
    {{ endelig_snapshot('aar') }} as snapshot_date,
    {{ frist('aar') }} as frist,
    cast(now() as timestamp) as frosset_tid
from aar
where {{ endelig_snapshot('aar') }} in (select snapshot_date from godkjent)
{% if appending() %}
    and aar not in (select aar from {{ this }})
{% endif %}
