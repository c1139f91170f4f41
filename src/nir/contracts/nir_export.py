"""The NIR export contract, version 1, in code.

This module is the single place where the contract in ``shared/spec/nir-export-v1.md`` lives:
files, columns and their types, code lists, and the CSV dialect. Everything else (the
generator, the contract check, the loader, the dbt seeds, the GX contract suite) reads it
from here. It imports nothing from the rest of the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

CONTRACT_VERSION = "1"

# --- CSV dialect --------------------------------------------------------------------------
DELIMITER = ";"
QUOTECHAR = '"'
DATE_FORMAT = "%d.%m.%Y"  # dd.mm.yyyy
TIMESTAMP_FORMAT = "%d.%m.%Y %H:%M:%S"  # local time Europe/Oslo
TIMEZONE = "Europe/Oslo"
TRUE, FALSE = "J", "N"
ENCODINGS = ("utf-8", "windows-1252")
DELIVERY_KINDS = ("monthly", "daily")
MANIFEST = "manifest.json"


class ColType(StrEnum):
    """Logical column types of the contract, with their DuckDB storage type in ``sql``."""

    INTEGER = "integer"
    TEXT = "text"
    DATE = "date"
    TIMESTAMP = "timestamp"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    FNR = "fodselsnummer"  # 11 digits; never stored: becomes a pseudonym at ingest
    KOMMUNE = "kommunenummer"  # four digits with leading zero
    CODE = "code"  # one of a code list

    @property
    def sql(self) -> str:
        return {
            ColType.INTEGER: "BIGINT",
            ColType.DATE: "DATE",
            ColType.TIMESTAMP: "TIMESTAMP",
            ColType.DECIMAL: "DECIMAL(5,2)",
            ColType.BOOLEAN: "BOOLEAN",
        }.get(self, "VARCHAR")


@dataclass(frozen=True)
class Column:
    name: str
    type: ColType
    required: bool = False  # an empty field is a contract violation
    codes: tuple[str, ...] | None = None  # allowed values for CODE columns
    #: A DATE column the warehouse keeps only the year of, under this name (``fodselsdato``
    #: -> ``fodselsaar``): the statistics need the age at 31.12, not the birth date.
    year_as: str | None = None


@dataclass(frozen=True)
class FileSpec:
    name: str  # file name in the delivery, e.g. "personer.csv"
    table: str  # raw table name, e.g. "personer"
    key: str  # primary key column
    columns: tuple[Column, ...]

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


# --- code lists ---------------------------------------------------------------------------
KJONN = ("K", "M")
REGELVERK = ("INTROL", "INTEGRL")
KATEGORI = ("RETT_OG_PLIKT", "RETT", "KAN_TILBYS")
ORDNING = ("INTRO", "NORSK_SAMF")
VEDTAKSTYPE = ("TILDELING", "AVSLAG", "PERMISJON", "STANS_MIDLERTIDIG", "STANS_PERMANENT")

TILTAKSKODER: dict[str, str] = {
    "NORSK": "Norskopplæring",
    "SAMF": "Samfunnskunnskap",
    "SPRAKPRAKSIS": "Språkpraksis",
    "ARBPRAKSIS": "Arbeidspraksis",
    "ARBEID_DELTID": "Ordinært lønnet arbeid (deltid)",
    "HURTIGSPOR": "Hurtigspor",
    "GRUNNSKOLE": "Grunnskoleopplæring",
    "VGO": "Videregående opplæring",
    "HOYERE_UTD": "Høyere utdanning",
    "GODKJ_UTD": "Godkjenning av utdanning",
    "KARRIEREVEIL": "Karriereveiledning",
    "LIVSMESTRING": "Kurs i livsmestring",
    "FORELDREVEIL": "Kurs i foreldreveiledning",
    "DIGITAL": "Digital kompetanse",
    "ANNET": "Annet",
}


@dataclass(frozen=True)
class Avslutningsaarsak:
    code: str
    label: str
    direkte_overgang: bool
    overgang_type: str | None  # "arbeid", "utdanning" or None


AVSLUTNINGSAARSAKER: dict[str, Avslutningsaarsak] = {
    a.code: a
    for a in (
        Avslutningsaarsak("ARBEID", "Arbeid, heltid", True, "arbeid"),
        Avslutningsaarsak("ARBEID_DELTID", "Arbeid, deltid", True, "arbeid"),
        Avslutningsaarsak("ARBEID_OG_UTDANNING", "Arbeid kombinert med utdanning", True, "arbeid"),
        Avslutningsaarsak("VGO", "Videregående opplæring", True, "utdanning"),
        Avslutningsaarsak("HOYERE_UTDANNING", "Høyere utdanning", True, "utdanning"),
        Avslutningsaarsak("FAGSKOLE", "Fagskole", True, "utdanning"),
        Avslutningsaarsak("GRUNNSKOLE", "Grunnskoleopplæring", False, None),
        Avslutningsaarsak("ARBEIDSSOKER", "Arbeidssøker / arbeidsrettet tiltak", False, None),
        Avslutningsaarsak("SYKDOM", "Sykdom", False, None),
        Avslutningsaarsak("OMSORG", "Foreldrepermisjon / omsorgsoppgaver", False, None),
        Avslutningsaarsak("FLYTTET", "Flyttet til annen kommune", False, None),
        Avslutningsaarsak("UTVANDRET", "Utvandret", False, None),
        Avslutningsaarsak("DOD", "Død", False, None),
        Avslutningsaarsak("AVBRUTT", "Avbrutt etter eget ønske", False, None),
        Avslutningsaarsak("STANS", "Stanset ved vedtak", False, None),
        Avslutningsaarsak("PROGRAMTID_UTLOPT", "Programtiden utløpt", False, None),
        Avslutningsaarsak("ANNET", "Annet", False, None),
    )
}
IKKE_REGISTRERT_LABEL = "Avslutningsårsak ikke registrert"

SLUTTMAAL: dict[str, str] = {
    "ARBEID": "Kvalifisere til arbeid",
    "HOYERE_UTDANNING": "Kvalifisere til høyere utdanning",
    "FULLFORT_VGO": "Fullført videregående opplæring",
    "FAGBREV": "Fag- eller svennebrev",
    "GODKJENT_UTDANNING": "Godkjenning av høyere utdanning",
    "KOMPLETTERENDE_UTD": "Påbegynne kompletterende utdanning",
}

UOPPGITT_KOMMUNE = "9999"

# --- files ----------------------------------------------------------------------------------
_I, _T, _D, _TS, _DEC, _B, _F, _K, _C = (
    ColType.INTEGER,
    ColType.TEXT,
    ColType.DATE,
    ColType.TIMESTAMP,
    ColType.DECIMAL,
    ColType.BOOLEAN,
    ColType.FNR,
    ColType.KOMMUNE,
    ColType.CODE,
)

PERSONER = FileSpec(
    "personer.csv",
    "personer",
    "nir_lopenr",
    (
        Column("nir_lopenr", _I, required=True),
        Column("fodselsnummer", _F, required=True),
        Column("kjonn", _C, required=True, codes=KJONN),
        Column("fodselsdato", _D, required=True, year_as="fodselsaar"),
        Column("landbakgrunn", _T),
        Column("bosatt_kommune", _K),
        Column("bosettingsdato", _D),
        Column("regelverk", _C, required=True, codes=REGELVERK),
        Column("kategori", _C, required=True, codes=KATEGORI),
        Column("skjermet", _B, required=True),
        Column("endret_tid", _TS, required=True),
    ),
)

DELTAKELSER = FileSpec(
    "deltakelser.csv",
    "deltakelser",
    "deltakelse_id",
    (
        Column("deltakelse_id", _I, required=True),
        Column("nir_lopenr", _I, required=True),
        Column("programkommune", _K, required=True),
        Column("startdato", _D, required=True),
        Column("sluttdato", _D),
        Column("avslutningsaarsak", _C, codes=tuple(AVSLUTNINGSAARSAKER)),
        Column("avsluttet_av_system", _B, required=True),
        Column("sluttmaal", _C, codes=tuple(SLUTTMAAL)),
        Column("registrert_tid", _TS, required=True),
        Column("avslutning_registrert_tid", _TS),
    ),
)

VEDTAK = FileSpec(
    "vedtak.csv",
    "vedtak",
    "vedtak_id",
    (
        Column("vedtak_id", _I, required=True),
        Column("nir_lopenr", _I, required=True),
        Column("kommune", _K, required=True),
        Column("ordning", _C, required=True, codes=ORDNING),
        Column("vedtakstype", _C, required=True, codes=VEDTAKSTYPE),
        Column("vedtaksdato", _D, required=True),
        Column("gyldig_fra", _D, required=True),
        Column("gyldig_til", _D),
        Column("registrert_tid", _TS, required=True),
    ),
)

TILTAK = FileSpec(
    "tiltak.csv",
    "tiltak",
    "tiltak_id",
    (
        Column("tiltak_id", _I, required=True),
        Column("nir_lopenr", _I, required=True),
        Column("deltakelse_id", _I, required=True),
        Column("kommune", _K, required=True),
        Column("tiltakskode", _C, required=True, codes=tuple(TILTAKSKODER)),
        Column("fra_dato", _D, required=True),
        Column("til_dato", _D),
        Column("timer_per_uke", _DEC),
        Column("registrert_tid", _TS, required=True),
    ),
)

FILES: tuple[FileSpec, ...] = (PERSONER, DELTAKELSER, VEDTAK, TILTAK)
FILES_BY_NAME: dict[str, FileSpec] = {f.name: f for f in FILES}


def raw_columns(spec: FileSpec) -> list[tuple[str, str]]:
    """Columns of the raw warehouse table for ``spec``: (name, DuckDB type).

    The raw tables hold the delivery typed, one partition per ``snapshot_date``. The
    fødselsnummer column is replaced by ``fnr_pseudonym`` (keyed HMAC-SHA256, hex) and
    ``fnr_gyldig`` (whether it passed its check digits); the birth date is kept as its year
    only (``fodselsaar``), so that the warehouse holds no date that, with the key, narrows the
    search for a person's number.
    """
    cols: list[tuple[str, str]] = [("snapshot_date", "DATE")]
    for c in spec.columns:
        if c.type is ColType.FNR:
            cols += [("fnr_pseudonym", "VARCHAR"), ("fnr_gyldig", "BOOLEAN")]
        elif c.year_as:
            cols.append((c.year_as, "INTEGER"))
        else:
            cols.append((c.name, c.type.sql))
    return cols
