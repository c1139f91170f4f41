{{ config(materialized='append_only') }}
-- The frozen final figures of tiltak_aar: for each year in endelige_aar, the rows of its final
-- snapshot, copied once (append-only, never rewritten).
{{ arkiver('fct_tiltak_aar', 'k.aar') }}
