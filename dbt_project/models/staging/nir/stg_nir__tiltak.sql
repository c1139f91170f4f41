-- Measures within spells, of the snapshot being built.
with source as (
    select * from {{ source('nir', 'tiltak') }}
    where snapshot_date = {{ snapshot() }}
),

renamed as (
    select
        snapshot_date,
        tiltak_id,
        nir_lopenr,
        deltakelse_id,
        kommune,
        tiltakskode,
        fra_dato,
        til_dato,
        timer_per_uke,
        registrert_tid
    from source
)

select * from renamed
