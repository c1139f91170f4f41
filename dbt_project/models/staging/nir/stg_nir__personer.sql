-- Persons of the snapshot being built. The pseudonym is not needed downstream and stays in raw.
with source as (
    select * from {{ source('nir', 'personer') }}
    where snapshot_date = {{ snapshot() }}
),

renamed as (
    select
        snapshot_date,
        nir_lopenr,
        fnr_gyldig,
        kjonn,
        fodselsdato,
        landbakgrunn,
        bosatt_kommune,
        bosettingsdato,
        regelverk,
        kategori,
        skjermet,
        endret_tid
    from source
)

select * from renamed
