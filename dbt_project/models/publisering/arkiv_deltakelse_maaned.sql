{{ config(materialized='append_only') }}
-- The frozen monthly figures: when a year becomes final, each of its periods as published then
-- (from the newest passed snapshot that covers it), copied once and never rewritten.
{{ arkiver('fct_deltakelse_maaned', 'cast(left(k.periode, 4) as integer)', 'periode') }}
