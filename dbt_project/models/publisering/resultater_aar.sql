-- Results of each year's avgangskohort before disclosure control (nir.publication applies it):
-- each year from the newest passed snapshot, or its frozen final figures.
with publisert as (
    {{ publiser('fct_resultater_aar', 'arkiv_resultater_aar', 'aar', 'aar') }}
)

select
    aar, nivaa, region, region_navn, kjonn, landbakgrunn_gruppe,
    avsluttede, direkte_overgang, overgang_arbeid, overgang_utdanning, ikke_registrert,
    andel_direkte_overgang, snapshot_date, status
from publisert
