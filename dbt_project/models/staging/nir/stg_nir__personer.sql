-- Persons of the snapshot being built. The pseudonym is not needed downstream and stays in raw.
-- Only the birth year is kept (raw holds no birth date): age at 31.12.Y is Y - fodselsaar.
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
        fodselsaar,
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
