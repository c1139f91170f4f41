-- Programme spells of the snapshot being built.
with source as (
    select * from {{ source('nir', 'deltakelser') }}
    where snapshot_date = {{ snapshot() }}
),

renamed as (
    select
        snapshot_date,
        deltakelse_id,
        nir_lopenr,
        programkommune,
        startdato,
        sluttdato,
        avslutningsaarsak,
        avsluttet_av_system,
        sluttmaal,
        registrert_tid,
        avslutning_registrert_tid
    from source
)

select * from renamed
