-- Unsuppressed completeness per region and control: records checked, records with a finding
-- (any severity) and the share without (percent). Skjermet persons count nationally only.
with vurdert as (
    select * from {{ ref('int_kontroller_vurdert') }}
    where snapshot_date = {{ snapshot() }}
),

regionalt as (
    {{ med_regioner('vurdert') }}
),

aggregert as (
    select
        nivaa,
        region,
        kontroll,
        count(*) as kontrollert,
        count(*) filter (where har_funn) as funn
    from regionalt
    group by nivaa, region, kontroll
),

rutenett as (
    select r.nivaa, r.region, k.kontroll
    from (select distinct nivaa, region from aggregert) as r
    cross join (
        -- every control, with or without records (nir.contracts.kontroller, via the seed)
        select kode as kontroll from {{ ref('kontroller') }}
    ) as k
)

select
    {{ snapshot() }} as snapshot_date,
    r.nivaa,
    r.region,
    r.kontroll,
    coalesce(a.kontrollert, 0) as kontrollert,
    coalesce(a.funn, 0) as funn,
    cast({{ andel('coalesce(a.kontrollert, 0) - coalesce(a.funn, 0)', 'a.kontrollert') }} as decimal(4, 3))
        as andel_uten_funn
from rutenett as r
left join aggregert as a on r.nivaa = a.nivaa and r.region = a.region and r.kontroll = a.kontroll
