-- Decisions of the snapshot being built.
with source as (
    select * from {{ source('nir', 'vedtak') }}
    where snapshot_date = {{ snapshot() }}
),

renamed as (
    select
        snapshot_date,
        vedtak_id,
        nir_lopenr,
        kommune,
        ordning,
        vedtakstype,
        vedtaksdato,
        gyldig_fra,
        gyldig_til,
        registrert_tid
    from source
)

select * from renamed
