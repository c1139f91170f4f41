-- Labels of every code in the published tables, one row per (kodeliste, kode): what an
-- analyst joins to, and what the JSON-stat files take their category labels from. The long
-- code lists and the controls come from the seeds (generated from the contracts); the short
-- ones, declared in the published models' accepted values, are listed here.
with tiltakskoder as (
    select * from {{ ref('tiltakskoder') }}
),

avslutningsaarsaker as (
    select * from {{ ref('avslutningsaarsaker') }}
),

kontroller as (
    select * from {{ ref('kontroller') }}
),

korte as (
    select * from (values
        ('nivaa', 'land', 'Hele landet', 'The country (region 0000).', 1),
        ('nivaa', 'fylke', 'Fylke', 'A fylke (two-digit number).', 2),
        ('nivaa', 'kommune', 'Kommune', 'A kommune (four-digit harmonised 2024 number).', 3),
        ('kjonn', 'alle', 'Begge kjønn', 'Total of K and M.', 1),
        ('kjonn', 'K', 'Kvinner', 'Women.', 2),
        ('kjonn', 'M', 'Menn', 'Men.', 3),
        ('aldersgruppe', 'alle', 'Alle aldre', 'Total of the age groups.', 1),
        ('aldersgruppe', '18-25', '18-25 år', 'Age at 31.12 of the year 25 or less.', 2),
        ('aldersgruppe', '26-35', '26-35 år', 'Age at 31.12 of the year.', 3),
        ('aldersgruppe', '36-45', '36-45 år', 'Age at 31.12 of the year.', 4),
        ('aldersgruppe', '46-55', '46-55 år', 'Age at 31.12 of the year.', 5),
        ('aldersgruppe', '56+', '56 år eller eldre', 'Age at 31.12 of the year.', 6),
        ('landbakgrunn_gruppe', 'alle', 'Alle landbakgrunner', 'Total of the groups.', 1),
        ('landbakgrunn_gruppe', 'Ukraina', 'Ukraina', 'Persons from Ukraine.', 2),
        ('landbakgrunn_gruppe', 'Ovrige', 'Øvrige', 'Every other landbakgrunn.', 3),
        ('maal', 'deltakere', 'Deltakere', 'Persons with a spell overlapping the year.', 1),
        ('maal', 'nye_deltakere', 'Nye deltakere',
            'Persons whose programme started in the year.', 2),
        ('maal', 'avsluttede', 'Avsluttede', 'Persons in the year''s avgangskohort.', 3),
        ('maal', 'direkte_overgang', 'Direkte overgang til arbeid eller utdanning',
            'Of the avgangskohort, ended with direkte overgang to work or education.', 4),
        ('status', 'forelopig', 'Foreløpige tall',
            'Preliminary figures (JSON-stat status *); they may still change.', 1),
        ('status', 'endelig', 'Endelige tall',
            'Final figures, frozen from the first monthly snapshot after the deadline.', 2),
        ('status', ':', 'Skjult',
            'In a per-figure status column: the cell is hidden by disclosure control.', 3),
        ('status', '..', 'Tallgrunnlag mangler',
            'In a per-figure status column: no figure exists (null before disclosure control).',
            4),
        ('celle', ':', 'Vises ikke av konfidensialitetshensyn',
            'JSON-stat cell status: hidden by disclosure control (value null).', 1),
        ('celle', '*', 'Foreløpige tall', 'JSON-stat cell status: a preliminary figure.', 2),
        ('celle', '..', 'Tallgrunnlag mangler',
            'JSON-stat cell status: no such cell in the table. No status: a final figure.', 3)
    ) as t (kodeliste, kode, etikett, beskrivelse, rekkefolge)
),

lange as (
    select
        'tiltakskode' as kodeliste, kode, navn as etikett, cast(null as varchar) as beskrivelse,
        row_number() over (order by kode) as rekkefolge
    from tiltakskoder
    union all
    select
        'avslutningsaarsak', kode, navn,
        case
            when overgang_type is not null then 'Direkte overgang (' || overgang_type || ').'
            else 'Not a direkte overgang.'
        end,
        row_number() over (order by kode)
    from avslutningsaarsaker
    union all
    select
        'kontroll', kode, navn,
        beskrivelse || case when alvorlighet = 'error' then ' Error.' else ' Warning.' end,
        rekkefolge
    from kontroller
)

select
    cast(kodeliste as varchar) as kodeliste,
    cast(kode as varchar) as kode,
    cast(etikett as varchar) as etikett,
    cast(beskrivelse as varchar) as beskrivelse,
    cast(rekkefolge as integer) as rekkefolge
from korte
union all
select kodeliste, kode, etikett, beskrivelse, cast(rekkefolge as integer) from lange
