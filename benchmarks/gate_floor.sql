-- The floor of the completeness gate (`nir gate`): the same checks as one DuckDB query.
--
-- Run by `nir bench` on the warehouse (read-only) with these variables set:
--     set variable snapshot = date '2025-01-01';
--     set variable grace_months = 2;      -- registration_grace_months
--     set variable max_ir = 0.05;         -- gate_max_ikke_registrert_share
--     set variable max_err = 0.10;        -- gate_max_error_spell_share
-- One row per check: (check, scope, observed, limit, passed, severity). The checks are those of
-- expectations/completeness.py: share «ikke registrert» per year (hard), spells in the
-- snapshot (hard), share of spells with an error finding (hard), and both shares per
-- programkommune (warnings). Frozen years are not excluded here (the gate reads them from
-- the published database); the publication suite's before-suppression hierarchy checks,
-- which `nir gate` also runs, are not part of this floor.
with programmer as (
    select year(sluttdato)::integer as aar, programkommune,
           case when ikke_registrert then 1 else 0 end as ikke_registrert
    from marts.fct_programmer
    where snapshot_date = getvariable('snapshot')
      and sluttdato is not null
      and sluttdato < getvariable('snapshot') - to_months(getvariable('grace_months'))
),
aar as (
    select distinct aar from marts.fct_resultater_aar where snapshot_date = getvariable('snapshot')
),
spells as (
    select programkommune, case when har_error_funn then 1 else 0 end as har_error_funn
    from marts.fct_deltakelser where snapshot_date = getvariable('snapshot')
),
per_aar as (
    select 'share ikke registrert' as check_name, p.aar::varchar as scope,
           avg(p.ikke_registrert) as observed, getvariable('max_ir') as limit_value, 'hard' as severity
    from programmer p join aar using (aar) group by p.aar
),
national as (
    select 'spells in the snapshot', 'land', count(*)::double, 1.0, 'hard' from spells
    union all
    select 'share spells with error finding', 'land', avg(har_error_funn), getvariable('max_err'), 'hard'
    from spells
),
kommuner as (
    select 'kommuner above the ikke registrert share', programkommune,
           avg(ikke_registrert), getvariable('max_ir'), 'warning'
    from programmer group by programkommune
    union all
    select 'kommuner above the error spell share', programkommune,
           avg(har_error_funn), getvariable('max_err'), 'warning'
    from spells group by programkommune
),
checks as (
    select * from per_aar union all select * from national union all select * from kommuner
)
select check_name, scope, observed, limit_value,
       case when check_name = 'spells in the snapshot' then observed >= limit_value
            else observed <= limit_value end as passed,
       severity
from checks
order by severity, check_name, scope
;
