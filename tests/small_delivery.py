"""A tiny valid delivery, written through nir.delivery.manifest, for loader and contract tests."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from nir.delivery.manifest import write_delivery


def _fnr(birth: str, ind: str) -> str:
    from stdnum.no.fodselsnummer import calc_check_digit1, calc_check_digit2, is_valid

    for i in range(int(ind), int(ind) + 50):  # some individnummer give check digit 10: skip
        base = f"{birth}{i:03d}"
        k1 = calc_check_digit1(base)
        number = base + k1 + calc_check_digit2(base + k1)
        if len(number) == 11 and is_valid(number):
            return number
    raise AssertionError("no valid number")


def tables(snapshot: date = date(2024, 2, 1), *, aarsak: str | None = "ARBEID") -> dict:
    p1 = _fnr("150185", "123")
    p2 = _fnr("020292", "456")
    p3 = _fnr("430378", "210")  # a D-nummer (day + 40)
    ts = datetime(2023, 1, 5, 10, 0, 0)
    return {
        "personer": [
            dict(
                nir_lopenr=1,
                fodselsnummer=p1,
                kjonn="M",
                fodselsdato=date(1985, 1, 15),
                landbakgrunn="SYR",
                bosatt_kommune="0301",
                bosettingsdato=date(2022, 11, 1),
                regelverk="INTEGRL",
                kategori="RETT_OG_PLIKT",
                skjermet=False,
                endret_tid=ts,
            ),
            dict(
                nir_lopenr=2,
                fodselsnummer=p2,
                kjonn="K",
                fodselsdato=date(1992, 2, 2),
                landbakgrunn="UKR",
                bosatt_kommune="3201",
                bosettingsdato=date(2023, 3, 1),
                regelverk="INTEGRL",
                kategori="RETT",
                skjermet=False,
                endret_tid=ts,
            ),
            dict(
                nir_lopenr=3,
                fodselsnummer=p3,
                kjonn="K",
                fodselsdato=date(1978, 3, 3),
                landbakgrunn="ERI",
                bosatt_kommune="4601",
                bosettingsdato=date(2019, 5, 1),
                regelverk="INTROL",
                kategori="RETT_OG_PLIKT",
                skjermet=True,
                endret_tid=ts,
            ),
        ],
        "deltakelser": [
            dict(
                deltakelse_id=10,
                nir_lopenr=1,
                programkommune="0301",
                startdato=date(2023, 1, 2),
                sluttdato=date(2023, 10, 31),
                avslutningsaarsak=aarsak,
                avsluttet_av_system=False,
                sluttmaal="ARBEID",
                registrert_tid=ts,
                avslutning_registrert_tid=datetime(2023, 11, 2, 9, 30, 0),
            ),
            dict(
                deltakelse_id=20,
                nir_lopenr=2,
                programkommune="3201",
                startdato=date(2023, 3, 15),
                sluttdato=None,
                avslutningsaarsak=None,
                avsluttet_av_system=False,
                sluttmaal="HOYERE_UTDANNING",
                registrert_tid=ts,
                avslutning_registrert_tid=None,
            ),
            dict(
                deltakelse_id=30,
                nir_lopenr=3,
                programkommune="4601",
                startdato=date(2020, 6, 1),
                sluttdato=date(2022, 5, 31),
                avslutningsaarsak=None,
                avsluttet_av_system=True,
                sluttmaal=None,
                registrert_tid=ts,
                avslutning_registrert_tid=datetime(2022, 6, 1, 0, 0, 0),
            ),
        ],
        "vedtak": [
            dict(
                vedtak_id=100,
                nir_lopenr=1,
                kommune="0301",
                ordning="INTRO",
                vedtakstype="TILDELING",
                vedtaksdato=date(2022, 12, 15),
                gyldig_fra=date(2023, 1, 2),
                gyldig_til=None,
                registrert_tid=ts,
            ),
            dict(
                vedtak_id=200,
                nir_lopenr=2,
                kommune="3201",
                ordning="INTRO",
                vedtakstype="TILDELING",
                vedtaksdato=date(2023, 3, 1),
                gyldig_fra=date(2023, 3, 15),
                gyldig_til=date(2024, 3, 14),
                registrert_tid=ts,
            ),
        ],
        "tiltak": [
            dict(
                tiltak_id=1000,
                nir_lopenr=1,
                deltakelse_id=10,
                kommune="0301",
                tiltakskode="NORSK",
                fra_dato=date(2023, 1, 2),
                til_dato=date(2023, 10, 31),
                timer_per_uke=15.0,
                registrert_tid=ts,
            ),
            dict(
                tiltak_id=2000,
                nir_lopenr=2,
                deltakelse_id=20,
                kommune="3201",
                tiltakskode="ARBPRAKSIS",
                fra_dato=date(2023, 4, 1),
                til_dato=None,
                timer_per_uke=22.5,
                registrert_tid=ts,
            ),
        ],
    }


def identity_numbers(t: dict) -> list[str]:
    return [p["fodselsnummer"] for p in t["personer"]]


def make(landing: Path, snapshot: date = date(2024, 2, 1), **kwargs) -> Path:
    aarsak = kwargs.pop("aarsak", "ARBEID")
    return write_delivery(landing, snapshot, tables(snapshot, aarsak=aarsak), **kwargs)
