{{ config(materialized='replaced_view') }}
-- Snapshots whose figures may be published: the gate's newest verdict passed. Only monthly
-- snapshots are gated (the nightly run never publishes).
select snapshot_date, siste_kjoring
from {{ ref('stg_gate__verdikt') }}
where bestatt and maanedlig
