"""The registration controls of statistics.md: the one list every part reads.

Each control's code, its severity (``error``/``warning``, statistics.md's table), its name
and description, and what a kommune case worker does about a finding and where in NIR. The
SQL that finds the records lives in dbt (``int_kontroller_vurdert``); everything else about
a control is here:

- ``nir seeds`` writes this list as the seed ``kontroller`` (``dbt_project/seeds/``), which
  gives ``int_kontroller_vurdert`` each control's severity, labels the published
  ``kontroll`` codes (``publisering.etiketter``) and is the list ``kontrolliste.kontroll``
  is tested against;
- the kommune outputs (:mod:`nir.kommune`) show the names and instructions.

Codes stay ASCII (they are data); names and instructions are Norwegian text with proper
letters.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kontroll:
    kode: str
    alvorlighet: str  # error | warning: a finding's severity (before the grace period)
    navn: str  # the human name, shown instead of the code
    beskrivelse: str  # what the control finds (statistics.md), in English
    hva: str  # what the kommune must do
    hvor: str  # where in NIR to fix it
    frist_kontroll: bool  # one of the checks IMDi's deadline notice asks for


_ALL = (
    Kontroll(
        "MANGLER_AVSLUTNINGSAARSAK",
        "error",
        "Mangler avslutningsårsak",
        "An ended spell without avslutningsaarsak (system-closed included).",
        "Registrer avslutningsårsak for avsluttede deltakelser (også de NIR har avsluttet "
        "automatisk).",
        "Personliste → velg deltaker → Avslutning → Avslutningsårsak "
        "(rapporten «Deltakere som har avsluttet introduksjonsprogram» viser dem)",
        True,
    ),
    Kontroll(
        "MANGLER_VEDTAK",
        "error",
        "Mangler vedtak",
        "A spell without an INTRO TILDELING vedtak for that person and kommune dated on or "
        "before its start.",
        "Registrer vedtak om tildeling av introduksjonsprogram, datert senest ved "
        "deltakelsens start.",
        "Personliste → filter «uten vedtak» → velg deltaker → Vedtak → Nytt vedtak",
        True,
    ),
    Kontroll(
        "MANGLER_TILTAK",
        "error",
        "Mangler tiltak",
        "A spell that has lasted more than 30 days without any tiltak.",
        "Registrer tiltakene for deltakelser som har vart mer enn 30 dager.",
        "Personliste → filter «uten tiltak» → velg deltaker → Tiltak → Nytt tiltak",
        True,
    ),
    Kontroll(
        "MANGLER_SLUTTMAAL",
        "error",
        "Mangler sluttmål",
        "An INTEGRL person's spell without sluttmaal.",
        "Registrer sluttmål for deltakere etter integreringsloven.",
        "Personliste → filter «uten sluttmål» → velg deltaker → Program → Sluttmål",
        True,
    ),
    Kontroll(
        "SEN_REGISTRERING",
        "warning",
        "Sen registrering",
        "A start or end registered more than two months after it happened "
        "(integreringsforskriften § 58).",
        "Start eller avslutning ble registrert mer enn to måneder etter at den skjedde "
        "(integreringsforskriften § 58). Registrer fortløpende; ingenting å rette i etterkant.",
        "Ingen retting: gjelder rutinene for registrering",
        False,
    ),
    Kontroll(
        "TILTAK_UTENFOR_DELTAKELSE",
        "warning",
        "Tiltak utenfor deltakelsen",
        "A tiltak dated outside its spell.",
        "Rett datoene på tiltak som ligger utenfor deltakelsens periode.",
        "Personliste → velg deltaker → Tiltak → rett fra- og til-dato",
        False,
    ),
    Kontroll(
        "UGYLDIG_FODSELSNUMMER",
        "warning",
        "Ugyldig fødselsnummer",
        "A fødselsnummer/D-nummer that fails its check digits.",
        "Kontroller fødselsnummer eller D-nummer (kontrollsifrene stemmer ikke).",
        "Personliste → velg deltaker → Personopplysninger",
        False,
    ),
    Kontroll(
        "UKJENT_KOMMUNE",
        "error",
        "Ugyldig kommunenummer",
        "A kommune number not valid on the event's date.",
        "Rett kommunenummeret: det var ikke gyldig på datoen for hendelsen.",
        "Personliste → velg deltaker → Deltakelse → Kommune",
        False,
    ),
)

#: Every control by code, in the order lists and labels show them.
KONTROLLER: dict[str, Kontroll] = {k.kode: k for k in _ALL}

#: The controls of IMDi's deadline notice, in the notice's order.
FRIST_KONTROLLER: tuple[str, ...] = tuple(k.kode for k in _ALL if k.frist_kontroll)
