"""How the kommune outputs show a registration control, in Norwegian.

The controls themselves (name, severity, what to do, where in NIR) are
:mod:`nir.contracts.kontroller`; this adds the lookups the packs and the tracker use, and the
visible words for a finding's severity (``feil``/``varsel``) and status.
"""

from __future__ import annotations

from nir.contracts.kontroller import FRIST_KONTROLLER, KONTROLLER

__all__ = ["FRIST_KONTROLLER", "KONTROLLER", "alvorlighet", "hva", "hvor", "navn"]

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
