"""What each registration control means to a kommune case worker, in Norwegian.

One dict, one place: the control's human name, what to do, and where in NIR to do it. The
codes (``MANGLER_SLUTTMAAL``) stay ASCII in data columns; everything here is visible text and
uses proper letters. ``alvorlighet`` is shown as ``feil``/``varsel``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kontroll:
    navn: str  # human name, shown instead of the code
    hva: str  # what the kommune must do
    hvor: str  # where in NIR to fix it
    frist_kontroll: bool  # one of the checks IMDi's deadline notice asks for


KONTROLLER: dict[str, Kontroll] = {
    "MANGLER_AVSLUTNINGSAARSAK": Kontroll(
        "Mangler avslutningsårsak",
        "Registrer avslutningsårsak for avsluttede deltakelser (også de NIR har avsluttet "
        "automatisk).",
        "Personliste → velg deltaker → Avslutning → Avslutningsårsak "
        "(rapporten «Deltakere som har avsluttet introduksjonsprogram» viser dem)",
        True,
    ),
    "MANGLER_VEDTAK": Kontroll(
        "Mangler vedtak",
        "Registrer vedtak om tildeling av introduksjonsprogram, datert senest ved "
        "deltakelsens start.",
        "Personliste → filter «uten vedtak» → velg deltaker → Vedtak → Nytt vedtak",
        True,
    ),
    "MANGLER_TILTAK": Kontroll(
        "Mangler tiltak",
        "Registrer tiltakene for deltakelser som har vart mer enn 30 dager.",
        "Personliste → filter «uten tiltak» → velg deltaker → Tiltak → Nytt tiltak",
        True,
    ),
    "MANGLER_SLUTTMAAL": Kontroll(
        "Mangler sluttmål",
        "Registrer sluttmål for deltakere etter integreringsloven.",
        "Personliste → filter «uten sluttmål» → velg deltaker → Program → Sluttmål",
        True,
    ),
    "UKJENT_KOMMUNE": Kontroll(
        "Ugyldig kommunenummer",
        "Rett kommunenummeret: det var ikke gyldig på datoen for hendelsen.",
        "Personliste → velg deltaker → Deltakelse → Kommune",
        False,
    ),
    "SEN_REGISTRERING": Kontroll(
        "Sen registrering",
        "Start eller avslutning ble registrert mer enn to måneder etter at den skjedde "
        "(integreringsforskriften § 58). Registrer fortløpende; ingenting å rette i etterkant.",
        "Ingen retting: gjelder rutinene for registrering",
        False,
    ),
    "TILTAK_UTENFOR_DELTAKELSE": Kontroll(
        "Tiltak utenfor deltakelsen",
        "Rett datoene på tiltak som ligger utenfor deltakelsens periode.",
        "Personliste → velg deltaker → Tiltak → rett fra- og til-dato",
        False,
    ),
    "UGYLDIG_FODSELSNUMMER": Kontroll(
        "Ugyldig fødselsnummer",
        "Kontroller fødselsnummer eller D-nummer (kontrollsifrene stemmer ikke).",
        "Personliste → velg deltaker → Personopplysninger",
        False,
    ),
}

# The controls of IMDi's deadline notice, in the notice's order.
FRIST_KONTROLLER: tuple[str, ...] = (
    "MANGLER_AVSLUTNINGSAARSAK",
    "MANGLER_VEDTAK",
    "MANGLER_TILTAK",
    "MANGLER_SLUTTMAAL",
)

ALVORLIGHET: dict[str, str] = {"error": "feil", "warning": "varsel"}

STATUS_NY = "ny"
STATUS_AAPEN = "fortsatt åpen"
STATUS_RETTET = "rettet"


def navn(kode: str) -> str:
    k = KONTROLLER.get(kode)
    return k.navn if k else kode


def hva(kode: str) -> str:
    k = KONTROLLER.get(kode)
    return k.hva if k else ""


def hvor(kode: str) -> str:
    k = KONTROLLER.get(kode)
    return k.hvor if k else ""


def alvorlighet(kode: str) -> str:
    return ALVORLIGHET.get(kode, kode)
