{{ config(materialized='replaced_table') }}
-- Names of the regions in the published tables (2024 structure): the country, fylker, kommuner.
with fylker as (
    select * from {{ ref('fylker') }}
),

kommuner as (
    select * from {{ ref('kommuner') }}
    where gyldig_til is null and kommunenummer <> '9999'
)

select 'land' as nivaa, '0000' as region, 'Norge' as region_navn
union all
select 'fylke', fylkesnummer, navn from fylker
where fylkesnummer in (select distinct {{ fylke('kommunenummer') }} from kommuner)
union all
select 'kommune', kommunenummer, navn from kommuner
