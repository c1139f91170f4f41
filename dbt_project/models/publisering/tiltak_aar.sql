-- Tiltak per reference year and tiltakskode before disclosure control (nir.publication
-- applies it): each year from the newest passed snapshot, or its frozen final figures.
with publisert as (
    {{ publiser('fct_tiltak_aar', 'arkiv_tiltak_aar', 'aar', 'aar') }}
)

select aar, nivaa, region, region_navn, tiltakskode, deltakere, timer, snapshot_date, status
from publisert
