-- Monthly figures before disclosure control (nir.publication applies it): every period, each
-- from the newest passed snapshot that covers it, final (frozen) once its year is final.
with publisert as (
    {{ publiser('fct_deltakelse_maaned', 'arkiv_deltakelse_maaned',
                'cast(left(periode, 4) as integer)', 'periode') }}
)

select periode, nivaa, region, region_navn, i_program, startet, avsluttet, snapshot_date, status
from publisert
