-- Participants per reference year before disclosure control (nir.publication applies it):
-- each year from the newest passed snapshot, or its frozen final figures.
with publisert as (
    {{ publiser('fct_deltakelse_aar', 'arkiv_deltakelse_aar', 'aar', 'aar') }}
)

select
    aar, nivaa, region, region_navn, kjonn, aldersgruppe,
    deltakere, nye_deltakere, avsluttede, snapshot_date, status
from publisert
