"""Synthetic NIR exports: deliveries that follow ``nir-export-v1.md`` to the letter.

One "true" history of the register is simulated once (vectorised with numpy), then every
delivery is derived from it as the register stood when that delivery was extracted:

* a record is present once its ``registrert_tid`` is at or before the extraction time;
* a spell's ``sluttdato``/``avslutningsaarsak`` appear once ``avslutning_registrert_tid`` has
  passed; about 15 % of the reasons are filled in a few weeks after the end was registered
  and about 4 % are corrected later, so consecutive snapshots revise each other;
* a tiltak's ``til_dato`` appears once that day is before the snapshot date.

Everything is deterministic from ``seed``: the same arguments give byte-identical files.

Files are written in the contract's dialect (``;``, dates ``dd.mm.yyyy``, decimals with a
comma, ``J``/``N``, empty = not registered), header from ``nir_export``, and encoded in the
declared encoding (UTF-8, some with a byte-order mark, or windows-1252, which also carries
æøå). No generated value contains ``;``, ``"`` or a line break, so nothing needs quoting.
The manifest is written last, through a temporary name, so a folder without one is still
being written.

The history holds persons whose first programme started from ``HISTORY_MONTHS`` months
before the first period to the end of the last one, with the national pattern: few starts in
2020-2021, the Ukrainian surge from autumn 2022 (kategori ``RETT``, short programmes: 8-15
months, 10 % leave within six; about 70 % of the starts in 2023-2024), programmes of one to
three years for the others,
moves (a spell ended ``FLYTTET`` and a new one within 90 days in another kommune), restarts
after more than 90 days, system-closed spells, vedtak and tiltak. Kommune numbers are those
valid on the date of each event (``nir.contracts.kommuner.code_on``); ``bosatt_kommune`` is the
kommune of settlement, coded as valid on ``bosettingsdato``.

Defects (:class:`DefectRates`) are injected at a rate measured over the same records as the
"Completeness per kommune" paragraph of ``statistics.md`` counts as checked, in the
**last** delivery generated (earlier snapshots hold the same defective records, so fewer of
them). See :class:`DefectRates` for each definition.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from nir.contracts import kommuner
from nir.contracts import nir_export as spec
from nir.delivery.manifest import write_manifest
from nir.periods import parse_period, periods_between, snapshot_for_period

__all__ = [
    "DEFAULT_DAILY",
    "DEMO_CORRECTION",
    "DefectRates",
    "Delivery",
    "correction_nights",
    "delivery_plan",
    "generate",
]

DEFAULT_DAILY = 5  # daily deliveries after the last monthly one (the 2nd..6th)
DEMO_CORRECTION = 0.025  # nir demo: the backlog kommuner catch up on before the deadline
HISTORY_MONTHS = 36  # first programmes start up to this many months before the first period
OSLO = ZoneInfo("Europe/Oslo")
DAY = 86_400
_EPOCH = date(1970, 1, 1)
_LUT_FIRST = date(1900, 1, 1)
_LUT_LAST = date(2060, 12, 31)

# shares that are part of the simulated "truth", not defects
SYSTEM_CLOSED_SHARE = 0.01  # of programme endings: NIR closed the spell itself
LATE_REASON_SHARE = 0.15  # reason registered 3+ days after the end (but within 2 months)
CORRECTED_REASON_SHARE = 0.04  # reason later corrected to another code
MOVE_SHARE = 0.07  # programmes that move kommune mid-way (chained spells)
RESTART_SHARE = 0.30  # of programmes ended for sykdom/omsorg/avbrutt/arbeidssoker
SKJERMET_SHARE = 0.005
D_NUMMER_SHARE = 0.10


@dataclass(frozen=True)
class DefectRates:
    """Registration errors to inject, each a share of the records its control checks.

    Denominators follow "Completeness per kommune" in ``statistics.md`` and are counted in the
    last delivery generated (the records registered by then):

    * ``mangler_avslutningsaarsak`` -- share of **spells** that ended (registered), were not
      closed by the system, and never get an avslutningsaarsak. (System-closed spells, about
      1 % of programme endings, also lack one; they are not part of this rate.)
    * ``mangler_vedtak`` -- share of **spells** without an ``INTRO``/``TILDELING`` vedtak for that
      person and kommune dated on or before the start (half have none, half a decision dated
      5-40 days after the start). Only a person's first spell in a kommune is chosen, so that
      an earlier decision there cannot hide the defect.
    * ``mangler_tiltak`` -- share of **spells** that have lasted more than 30 days by the last
      snapshot and have no tiltak at all.
    * ``mangler_sluttmaal`` -- share of **spells** of ``INTEGRL`` persons with no sluttmaal.
    * ``sen_registrering`` -- share of **spells** whose start, or (for ended spells, half of
      the time) end, is registered 65-200 days after it happened (more than two months), and
      still before the last delivery. Normal registrations come at most 45 days after the
      event.
    * ``tiltak_utenfor_deltakelse`` -- share of **tiltak** whose ``fra_dato`` is 3-60 days
      before the start of their spell.
    * ``ugyldig_fodselsnummer`` -- share of **persons** whose fødselsnummer has a wrong second
      check digit.
    * ``ukjent_kommune`` -- share of **spells** whose ``programkommune`` is not valid on the
      start date: the 2024 code for an earlier start (3201 for Bærum in 2022), the pre-2024
      code for a 2024 start, otherwise a code retired or not yet created on that date.
    """

    mangler_avslutningsaarsak: float = 0.005
    mangler_vedtak: float = 0.015
    mangler_tiltak: float = 0.015
    mangler_sluttmaal: float = 0.015
    sen_registrering: float = 0.03
    tiltak_utenfor_deltakelse: float = 0.02
    ugyldig_fodselsnummer: float = 0.01
    ukjent_kommune: float = 0.01

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"defect rate {f.name}={value} is not between 0 and 1")

    @classmethod
    def none(cls) -> DefectRates:
        """No defects at all."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def with_overrides(self, items: Iterable[str]) -> DefectRates:
        """Apply ``NAME=RATE`` strings (as given to ``--defect``), e.g. ``ukjent_kommune=0.1``."""
        changes: dict[str, float] = {}
        for item in items:
            name, sep, rate = item.partition("=")
            name = name.strip()
            if not sep or name not in self.names():
                raise ValueError(
                    f"--defect {item!r}: write NAME=RATE with NAME one of {', '.join(self.names())}"
                )
            try:
                changes[name] = float(rate.replace(",", "."))
            except ValueError as exc:
                raise ValueError(f"--defect {item!r}: {rate!r} is not a number") from exc
        return replace(self, **changes)


@dataclass(frozen=True)
class Delivery:
    """One delivery to write: its folder date, kind, extraction moment and dialect."""

    snapshot_date: date
    kind: str  # "monthly" or "daily"
    extracted_at: datetime  # aware, Europe/Oslo
    encoding: str  # "utf-8" or "windows-1252" (as declared in the manifest)
    bom: bool
    crlf: bool

    @property
    def extracted_secs(self) -> int:
        """Extraction moment as seconds of naive Oslo local time since 1970 (the sim clock)."""
        naive = self.extracted_at.replace(tzinfo=None)
        return int((naive - datetime(1970, 1, 1)).total_seconds())


def delivery_plan(
    start: str, end: str, *, seed: int = 1, daily: int | Sequence[date] = DEFAULT_DAILY
) -> list[Delivery]:
    """The deliveries for reference periods ``start``..``end`` plus daily ones, by date.

    ``daily`` is a number of nights right after the last monthly delivery, or the dates of
    the daily deliveries (none on a 1st: that night's delivery is the monthly one), e.g.
    :func:`correction_nights`. Dialect per delivery, rotated by the seed: every 5th is
    windows-1252, every 3rd of the others UTF-8 with a byte-order mark, every other one has
    CRLF line ends.
    """
    dates = [(snapshot_for_period(p), "monthly") for p in periods_between(start, end)]
    last = dates[-1][0]
    if isinstance(daily, int):
        if daily < 0:
            raise ValueError(f"daily={daily}: give 0 or more daily deliveries")
        dates += [(last + timedelta(days=i), "daily") for i in range(1, daily + 1)]
    else:
        nights = sorted(set(daily))
        if any(d.day == 1 for d in nights):
            raise ValueError("a daily delivery on the 1st: that night's delivery is monthly")
        dates = sorted(dates + [(d, "daily") for d in nights])
    rng = np.random.default_rng([seed, 7])
    offset = int(rng.integers(0, 30))
    out = []
    for i, (day, kind) in enumerate(dates):
        idx = i + offset
        cp1252 = idx % 5 == 4
        minute, second = (int(x) for x in rng.integers(0, 60, size=2))
        moment = datetime(day.year, day.month, day.day, 2, minute, second, tzinfo=OSLO)
        if moment.astimezone(UTC).astimezone(OSLO).hour != 2:  # no 02:xx when DST starts
            moment = moment.replace(hour=3)
        out.append(
            Delivery(
                snapshot_date=day,
                kind=kind,
                extracted_at=moment,
                encoding="windows-1252" if cp1252 else "utf-8",
                bom=not cp1252 and idx % 3 == 2,
                crlf=idx % 2 == 1,
            )
        )
    return out


# --- helpers: days and strings ----------------------------------------------------------------
def _days(d: date) -> int:
    return (d - _EPOCH).days


def _month_start(k: int) -> date:
    return date(k // 12, k % 12 + 1, 1)


_LUT_DAY0 = _days(_LUT_FIRST)
_DATE_LUT: np.ndarray | None = None
_TIME_LUT: np.ndarray | None = None


def _luts() -> tuple[np.ndarray, np.ndarray]:
    global _DATE_LUT, _TIME_LUT
    if _DATE_LUT is None or _TIME_LUT is None:
        n = (_LUT_LAST - _LUT_FIRST).days + 1
        _DATE_LUT = np.array(
            [(_LUT_FIRST + timedelta(days=i)).strftime(spec.DATE_FORMAT) for i in range(n)],
            dtype=object,
        )
        _TIME_LUT = np.array(
            [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)], dtype=object
        )
    return _DATE_LUT, _TIME_LUT


def _fmt_date(days: np.ndarray) -> np.ndarray:
    """Day numbers (since 1970) -> ``dd.mm.yyyy``; negative sentinel (< -10**6) -> ''."""
    lut, _ = _luts()
    days = np.asarray(days, dtype=np.int64)
    empty = days < _LUT_DAY0
    idx = np.clip(days - _LUT_DAY0, 0, len(lut) - 1)
    out = lut[idx]
    if empty.any():
        out = out.copy()
        out[empty] = ""
    return out


def _fmt_ts(secs: np.ndarray) -> np.ndarray:
    """Seconds of Oslo local time since 1970 -> ``dd.mm.yyyy HH:MM:SS``."""
    dl, tl = _luts()
    secs = np.asarray(secs, dtype=np.int64)
    return dl[secs // DAY - _LUT_DAY0] + " " + tl[secs % DAY]


def _str(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(str).astype(object)


def _join(*cols: np.ndarray) -> np.ndarray:
    """Join columns (object arrays of str, or plain str) with the separator, row-wise."""
    parts: list[np.ndarray | str] = []
    for i, c in enumerate(cols):
        if i:
            parts.append(spec.DELIMITER)
        parts.append(c)
    return reduce(lambda a, b: a + b, parts)


def _pick(rng: np.random.Generator, options: dict[str, float], n: int) -> np.ndarray:
    keys = list(options)
    p = np.array([options[k] for k in keys], dtype=float)
    return rng.choice(len(keys), size=n, p=p / p.sum())


def _weekday(days: np.ndarray) -> np.ndarray:
    """Move Saturdays and Sundays to the Monday after (1970-01-01 was a Thursday)."""
    wd = (days + 3) % 7  # Monday = 0
    return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))


def _work_secs(rng: np.random.Generator, n: int) -> np.ndarray:
    """A moment in office hours (08:00-16:00)."""
    return rng.integers(8 * 3600, 16 * 3600, size=n)


# --- volumes and mixes ------------------------------------------------------------------------
def _intensity(year: int, month: int) -> tuple[float, float]:
    """Relative first-programme starts per month: (others, Ukrainian refugees)."""
    other = {2018: 1000, 2019: 700, 2020: 380, 2021: 450, 2022: 430, 2023: 360}.get(
        year, 1000 if year < 2018 else 330
    )
    if (year, month) < (2022, 4):
        ukr = 0.0
    elif year == 2022:
        ukr = [20, 50, 100, 200, 300, 500, 700, 900, 1000][month - 4]
    elif year == 2023:
        ukr = 840
    else:
        ukr = 690
    return float(other), float(ukr)


BIG_KOMMUNER = {  # 2024 code -> share of settled refugees (percent), the rest spread out
    "0301": 9.0, "4601": 4.5, "5001": 3.5, "1103": 2.5, "3201": 2.2, "4204": 2.0,
    "3301": 1.8, "3107": 1.6, "1108": 1.4, "5501": 1.3, "3205": 1.4, "3203": 1.0,
    "1508": 0.9, "1580": 0.35, "3105": 1.0, "4003": 0.9, "1804": 0.9, "3403": 0.8,
    "1106": 0.8, "3907": 0.7, "3209": 0.7,
}  # fmt: skip
LANDBAKGRUNN_OTHERS = {
    "SYR": 30, "ERI": 10, "AFG": 9, "COD": 8, "SOM": 7, "IRQ": 5, "IRN": 5, "SDN": 4,
    "RUS": 4, "ETH": 3, "MMR": 3, "PSE": 3, "TUR": 3, "YEM": 2, "VEN": 2, "UKR": 2,
}  # fmt: skip
AGE_GROUPS = ((18, 26, 0.18), (26, 36, 0.30), (36, 46, 0.32), (46, 56, 0.16), (56, 67, 0.04))
REASONS = list(spec.AVSLUTNINGSAARSAKER)
REASON_WEIGHTS = {
    "ARBEID": 21, "ARBEID_DELTID": 11, "ARBEID_OG_UTDANNING": 4, "VGO": 9,
    "HOYERE_UTDANNING": 5, "FAGSKOLE": 2, "GRUNNSKOLE": 5, "ARBEIDSSOKER": 13, "SYKDOM": 5,
    "OMSORG": 6, "FLYTTET": 0, "UTVANDRET": 4, "DOD": 0.3, "AVBRUTT": 7, "STANS": 2,
    "PROGRAMTID_UTLOPT": 6, "ANNET": 2.7,
}  # fmt: skip
RESTARTABLE = ("SYKDOM", "OMSORG", "AVBRUTT", "ARBEIDSSOKER")
SLUTTMAAL_WEIGHTS = {
    "ARBEID": 60, "HOYERE_UTDANNING": 10, "FULLFORT_VGO": 12, "FAGBREV": 8,
    "GODKJENT_UTDANNING": 5, "KOMPLETTERENDE_UTD": 5,
}  # fmt: skip
OTHER_TILTAK = {
    "SAMF": 14, "SPRAKPRAKSIS": 10, "ARBPRAKSIS": 14, "ARBEID_DELTID": 6, "HURTIGSPOR": 3,
    "GRUNNSKOLE": 6, "VGO": 5, "HOYERE_UTD": 1.5, "GODKJ_UTD": 2, "KARRIEREVEIL": 10,
    "LIVSMESTRING": 6, "FORELDREVEIL": 5, "DIGITAL": 6, "ANNET": 3,
}  # fmt: skip
TILTAKSKODER = list(spec.TILTAKSKODER)
NORSK_HOURS = np.array([100, 125, 150, 175, 200])  # tenths of an hour
OTHER_HOURS = np.array([20, 30, 40, 50, 75, 100, 150, 200, 225])


class _Kommuner:
    """2024 kommuner with weights, and their code in every shipped structure."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.codes = sorted(c for c in kommuner.current().names if c != kommuner.UOPPGITT)
        big = np.array([BIG_KOMMUNER.get(c, 0.0) for c in self.codes])
        rest = np.minimum(rng.lognormal(0.0, 0.8, size=len(self.codes)), 4.0) * (big == 0)
        rest *= (100.0 - big.sum()) / rest.sum()
        w = big + rest
        self.weights = w / w.sum()
        inds = kommuner.inndelinger()
        self.starts = np.array([_days(i.valid_from) for i in inds])
        self.table = np.array(
            [[kommuner.code_on(c, i.valid_from) for c in self.codes] for i in inds], dtype=object
        )
        everything = set().union(*(set(i.names) for i in inds)) - {kommuner.UOPPGITT}
        self.invalid_pool = [sorted(everything - set(i.names)) for i in inds]
        self.valid = [set(i.names) for i in inds]

    def structure(self, days: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.starts, days, side="right") - 1, 0, None)

    def code(self, idx: np.ndarray, days: np.ndarray) -> np.ndarray:
        return self.table[self.structure(days), idx]

    def wrong_code(self, rng: np.random.Generator, idx: np.ndarray, days: np.ndarray) -> np.ndarray:
        """A code that is *not* valid on ``days`` for the kommune ``idx`` (2024 index)."""
        s = self.structure(days)
        out = np.empty(len(idx), dtype=object)
        last = len(self.starts) - 1
        for k, (j, st) in enumerate(zip(idx.tolist(), s.tolist(), strict=True)):
            cands = [self.codes[j] if st < last else self.table[max(st - 1, 0), j]]
            cands = [c for c in cands if c not in self.valid[st]]
            pool = self.invalid_pool[st]
            out[k] = cands[0] if cands else pool[int(rng.integers(len(pool)))]
        return out


# --- identity numbers -------------------------------------------------------------------------
_W1 = np.array([3, 7, 6, 1, 8, 9, 4, 5, 2])
_W2 = np.array([5, 4, 3, 2, 7, 6, 5, 4, 3, 2])


def _fodselsnummer(
    rng: np.random.Generator, birth: np.ndarray, male: np.ndarray, d_nummer: np.ndarray
) -> np.ndarray:
    """Valid, unique fødselsnummer/D-nummer for birth days (since 1970) and sex."""
    n = len(birth)
    bd = np.array(birth, dtype="datetime64[D]")
    years = bd.astype("datetime64[Y]").astype(int) + 1970
    months = bd.astype("datetime64[M]").astype(int) % 12 + 1
    days = (bd - bd.astype("datetime64[M]")).astype(int) + 1
    dd = days + 40 * d_nummer
    lo = np.where(years >= 2000, 500, 0)
    out = np.empty(n, dtype=object)
    todo = np.arange(n)
    seen: set[str] = set()
    while len(todo):
        m = len(todo)
        ind = lo[todo] + 2 * rng.integers(0, 250, size=m) + male[todo].astype(int)
        digits = np.stack(
            [
                dd[todo] // 10, dd[todo] % 10, months[todo] // 10, months[todo] % 10,
                years[todo] % 100 // 10, years[todo] % 10,
                ind // 100, ind // 10 % 10, ind % 10,
            ],
            axis=1,
        )  # fmt: skip
        k1 = (11 - (digits @ _W1) % 11) % 11
        d10 = np.concatenate([digits, k1[:, None]], axis=1)
        k2 = (11 - (d10 @ _W2) % 11) % 11
        ok = (k1 < 10) & (k2 < 10)
        full = np.concatenate([d10, k2[:, None]], axis=1)
        retry = []
        for row, t, good in zip(full.tolist(), todo.tolist(), ok.tolist(), strict=True):
            s = "".join(map(str, row))
            if good and s not in seen:
                seen.add(s)
                out[t] = s
            else:
                retry.append(t)
        todo = np.array(retry, dtype=int)
    return out


def _break_check_digit(rng: np.random.Generator, fnr: np.ndarray) -> np.ndarray:
    bump = rng.integers(1, 10, size=len(fnr))
    return np.array(
        [s[:10] + str((int(s[10]) + b) % 10) for s, b in zip(fnr, bump.tolist(), strict=True)],
        dtype=object,
    )


# --- the simulated history -------------------------------------------------------------------
NONE_DAY = -(10**7)  # an empty date
NEVER = np.iinfo(np.int64).max  # a moment that never comes


def _scaled(rate: float, denominator: int, eligible: np.ndarray) -> float:
    """Probability per eligible record so that ``rate * denominator`` records are chosen."""
    n = int(eligible.sum())
    return 0.0 if n == 0 else min(1.0, rate * denominator / n)


@dataclass
class _Persons:
    """One row per person; days since 1970, kommune as an index into ``_Kommuner.codes``."""

    ukr: np.ndarray  # fordrevet fra Ukraina (kategori RETT from March 2022)
    start: np.ndarray  # start of the first programme
    dur: np.ndarray  # its planned length in days
    female: np.ndarray
    birth: np.ndarray
    land: np.ndarray
    home: np.ndarray  # settlement kommune
    bosdato: np.ndarray
    introl: np.ndarray  # permit before 2021: introduksjonsloven
    rett: np.ndarray
    kategori: np.ndarray
    skjermet: np.ndarray

    def __len__(self) -> int:
        return len(self.start)


def _simulate_persons(
    rng: np.random.Generator, n: int, k0: int, k1: int, kom: _Kommuner
) -> _Persons:
    """Persons whose first programme starts in months ``k0``..``k1`` (year * 12 + month - 1)."""
    months = np.arange(k0, k1 + 1)
    inten = np.array([_intensity(k // 12, k % 12 + 1) for k in months])
    mstart = np.array([_days(_month_start(k)) for k in months])
    mlen = np.array([_days(_month_start(k + 1)) for k in months]) - mstart
    mi = rng.choice(len(months), size=n, p=inten.sum(1) / inten.sum())
    ukr = rng.random(n) < inten[mi, 1] / inten[mi].sum(1)
    start = mstart[mi] + (rng.random(n) * mlen[mi]).astype(np.int64)
    g = rng.choice(len(AGE_GROUPS), size=n, p=[a[2] for a in AGE_GROUPS])
    lo = np.array([a[0] for a in AGE_GROUPS])[g]
    hi = np.array([a[1] for a in AGE_GROUPS])[g]
    age_days = ((lo + rng.random(n) * (hi - lo)) * 365.25).astype(np.int64)
    land = np.array(list(LANDBAKGRUNN_OTHERS), dtype=object)[_pick(rng, LANDBAKGRUNN_OTHERS, n)]
    land[ukr] = "UKR"
    land[(~ukr) & (rng.random(n) < 0.005)] = ""  # not registered
    bosdato = start - rng.integers(0, 121, size=n)
    permit = bosdato - rng.integers(14, 241, size=n)
    introl = permit < _days(date(2021, 1, 1))
    rett = ukr & (start >= _days(date(2022, 3, 1)))
    kategori = np.where(
        rett, "RETT", np.where(rng.random(n) < 0.85, "RETT_OG_PLIKT", "KAN_TILBYS")
    ).astype(object)
    short = np.where(rng.random(n) < 0.10, rng.integers(45, 180, n), rng.integers(240, 451, n))
    long_introl = np.clip(rng.lognormal(np.log(650), 0.35, n), 120, 1100)
    long_integrl = np.clip(rng.lognormal(np.log(520), 0.5, n), 90, 1460)
    dur = np.where(rett, short, np.where(introl, long_introl, long_integrl)).astype(np.int64)
    return _Persons(
        ukr=ukr,
        start=start,
        dur=dur,
        female=rng.random(n) < np.where(ukr, 0.62, 0.48),
        birth=start - age_days,
        land=land,
        home=rng.choice(len(kom.codes), size=n, p=kom.weights),
        bosdato=bosdato,
        introl=introl,
        rett=rett,
        kategori=kategori,
        skjermet=rng.random(n) < SKJERMET_SHARE,
    )


@dataclass
class _Spells:
    """One row per spell (a row of deltakelser.csv): the truth and when NIR learnt it."""

    person: np.ndarray
    kom: np.ndarray  # kommune index
    start: np.ndarray
    end: np.ndarray  # may lie after the last delivery: then the spell is open in all of them
    reason: np.ndarray  # index into REASONS, -1 = none registered
    system: np.ndarray  # closed by NIR itself
    start_reg: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    end_reg: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    reason_t: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    corr_t: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # NEVER if none
    corr_reason: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    sluttmaal: np.ndarray = field(default_factory=lambda: np.empty(0, object))
    kom_code: np.ndarray = field(default_factory=lambda: np.empty(0, object))
    no_tiltak: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    no_vedtak: np.ndarray = field(default_factory=lambda: np.empty(0, bool))

    def __len__(self) -> int:
        return len(self.person)


def _simulate_spells(
    rng: np.random.Generator, pers: _Persons, kom: _Kommuner, d_last: int
) -> _Spells:
    """Programme 1 (split in two spells by a move for some), then restarts after > 90 days."""
    n = len(pers)
    reason_p = np.array([REASON_WEIGHTS[r] for r in REASONS], dtype=float)
    reason_p /= reason_p.sum()
    flyttet = REASONS.index("FLYTTET")
    end0 = pers.start + pers.dur
    moved = (rng.random(n) < MOVE_SHARE) & (pers.dur > 120)
    cut = pers.start + (pers.dur * rng.uniform(0.2, 0.8, n)).astype(np.int64)
    gap = rng.integers(1, 91, n)
    dest = rng.choice(len(kom.codes), size=n, p=kom.weights)
    same = dest == pers.home
    dest[same] = (dest[same] + 1 + rng.integers(0, len(kom.codes) - 1, same.sum())) % len(kom.codes)
    final1 = rng.choice(len(REASONS), size=n, p=reason_p)
    restartable = np.isin(np.array(REASONS)[final1], RESTARTABLE)
    rstart = end0 + np.where(moved, gap, 0) + rng.integers(91, 361, n)
    restart = restartable & (rng.random(n) < RESTART_SHARE) & (rstart <= d_last)
    rend = rstart + rng.integers(90, 401, n)
    rkom = np.where(moved, dest, pers.home)
    rreason = rng.choice(len(REASONS), size=n, p=reason_p)

    pid = np.arange(n)
    st, mv, rs = ~moved, moved, restart
    parts = [
        # person, kommune, start, end, reason, programme-final
        (pid[st], pers.home[st], pers.start[st], end0[st], final1[st], True),
        (pid[mv], pers.home[mv], pers.start[mv], cut[mv], np.full(mv.sum(), flyttet), False),
        (pid[mv], dest[mv], cut[mv] + gap[mv], end0[mv] + gap[mv], final1[mv], True),
        (pid[rs], rkom[rs], rstart[rs], rend[rs], rreason[rs], True),
    ]
    final = np.concatenate([np.full(len(p[0]), p[5]) for p in parts])
    system = final & (rng.random(len(final)) < SYSTEM_CLOSED_SHARE)
    reason = np.concatenate([p[4] for p in parts]).astype(np.int64)
    reason[system] = -1
    return _Spells(
        person=np.concatenate([p[0] for p in parts]),
        kom=np.concatenate([p[1] for p in parts]),
        start=np.concatenate([p[2] for p in parts]).astype(np.int64),
        end=np.concatenate([p[3] for p in parts]).astype(np.int64),
        reason=reason,
        system=system,
    )


def _register_spells(rng: np.random.Generator, s: _Spells) -> None:
    """When each start, end and reason reaches NIR; late reasons and later corrections."""
    n = len(s)
    d_start = np.minimum(rng.exponential(7, n).astype(np.int64), 45)
    d_end = np.minimum(rng.exponential(9, n).astype(np.int64), 45)
    s.start_reg = _weekday(s.start + d_start) * DAY + _work_secs(rng, n)
    s.end_reg = _weekday(s.end + d_end) * DAY + _work_secs(rng, n)
    s.end_reg[s.system] = (s.end[s.system] + 1) * DAY + 3600  # NIR's own job, at night
    # some reasons come 3+ days after the end, still within two months of the end
    late_fill = (rng.random(n) < LATE_REASON_SHARE) & (d_end < 55) & ~s.system
    fill_extra = (rng.random(n) * np.maximum(1, 57 - d_end - 3)).astype(np.int64) + 3
    fill_t = _weekday(s.end + d_end + fill_extra) * DAY + _work_secs(rng, n)
    s.reason_t = np.maximum(np.where(late_fill, fill_t, s.end_reg), s.end_reg)
    # some are corrected to another code 20-150 days later (never a move: it chains spells)
    flyttet = REASONS.index("FLYTTET")
    corr_reason = (s.reason + 1 + rng.integers(0, len(REASONS) - 1, n)) % len(REASONS)
    corr_reason[corr_reason == flyttet] = REASONS.index("ARBEID")
    corrected = (rng.random(n) < CORRECTED_REASON_SHARE) & (s.reason >= 0)
    corrected &= (corr_reason != s.reason) & (s.reason != flyttet)
    s.corr_reason = corr_reason
    s.corr_t = np.where(corrected, s.reason_t + rng.integers(20, 151, n) * DAY, NEVER)


def _spell_defects(
    rng: np.random.Generator, s: _Spells, pers: _Persons, kom: _Kommuner, defects: DefectRates,
    t_last: int, d_last: int,
) -> None:  # fmt: skip
    """Inject the spell-level defects; rates are over the spells of the last delivery."""
    n = len(s)
    # late registrations, chosen where they still land before the last delivery so that the
    # rate holds there: a start (or end) at least 65 days before it
    room_start = d_last - 1 - s.start
    room_end = d_last - 1 - s.end
    can_start = (s.start_reg <= t_last) & (room_start >= 65)
    can_end = (s.end_reg <= t_last) & ~s.system & (room_end >= 65)
    can = can_start | can_end
    n_vis = int((s.start_reg <= t_last).sum())
    late = can & (rng.random(n) < _scaled(defects.sen_registrering, n_vis, can))
    late_end = late & can_end & ((rng.random(n) < 0.5) | ~can_start)
    late_start = late & ~late_end
    u = rng.random(n)
    lag_end = 65 + (u * (np.minimum(200, room_end) - 64)).astype(np.int64)
    lag_start = 65 + (u * (np.minimum(200, room_start) - 64)).astype(np.int64)
    shift = np.where(late_end, (s.end + lag_end) * DAY + _work_secs(rng, n) - s.end_reg, 0)
    s.end_reg = s.end_reg + shift
    s.reason_t = s.reason_t + shift
    s.corr_t = np.where(s.corr_t == NEVER, NEVER, s.corr_t + shift)
    s.start_reg = np.where(
        late_start, (s.start + lag_start) * DAY + _work_secs(rng, n), s.start_reg
    )
    s.end_reg = np.maximum(s.end_reg, s.start_reg + 600)
    s.reason_t = np.maximum(s.reason_t, s.end_reg)
    s.corr_t = np.where(s.corr_t == NEVER, NEVER, np.maximum(s.corr_t, s.reason_t + DAY))

    visible = s.start_reg <= t_last
    n_vis = int(visible.sum())

    def choose(rate: float, eligible: np.ndarray) -> np.ndarray:
        return eligible & (rng.random(n) < _scaled(rate, n_vis, eligible))

    ended = visible & (s.end_reg <= t_last) & ~s.system & (s.reason >= 0)
    no_reason = choose(defects.mangler_avslutningsaarsak, ended)
    s.reason[no_reason] = -1
    s.corr_t[no_reason] = NEVER

    integrl = ~pers.introl[s.person]
    s.sluttmaal = np.array(list(SLUTTMAAL_WEIGHTS), dtype=object)[_pick(rng, SLUTTMAAL_WEIGHTS, n)]
    s.sluttmaal[~integrl] = ""
    s.sluttmaal[choose(defects.mangler_sluttmaal, visible & integrl)] = ""

    lasted = np.minimum(s.end, d_last) - s.start
    s.no_tiltak = choose(defects.mangler_tiltak, visible & (lasted > 30))

    # only a person's first spell in a kommune: an earlier decision there would hide it
    order = np.lexsort((s.start, s.kom, s.person))
    first_in_kom = np.ones(n, dtype=bool)
    po, ko = s.person[order], s.kom[order]
    first_in_kom[order[1:][(po[1:] == po[:-1]) & (ko[1:] == ko[:-1])]] = False
    s.no_vedtak = choose(defects.mangler_vedtak, visible & first_in_kom)

    s.kom_code = kom.code(s.kom, s.start)
    bad = choose(defects.ukjent_kommune, visible)
    if bad.any():
        s.kom_code[bad] = kom.wrong_code(rng, s.kom[bad], s.start[bad])


@dataclass
class _Vedtak:
    person: np.ndarray
    kom: np.ndarray
    ordning: np.ndarray
    typ: np.ndarray
    day: np.ndarray  # vedtaksdato
    fra: np.ndarray
    til: np.ndarray
    reg: np.ndarray


def _simulate_vedtak(
    rng: np.random.Generator, s: _Spells, pers: _Persons, kom: _Kommuner
) -> _Vedtak:
    """INTRO TILDELING per spell (unless a defect), AVSLAG, NORSK_SAMF, PERMISJON, STANS."""
    parts: list[_Vedtak] = []

    def add(
        person: np.ndarray, kidx: np.ndarray, ordning: str, typ: str, day: np.ndarray,
        fra: np.ndarray, til: np.ndarray, reg: np.ndarray | None = None,
    ) -> None:  # fmt: skip
        m = len(person)
        if reg is None:
            reg = _weekday(day + rng.integers(0, 3, m)) * DAY + _work_secs(rng, m)
        reg = np.maximum(reg, day * DAY + 7 * 3600)
        o, t = np.full(m, ordning, dtype=object), np.full(m, typ, dtype=object)
        parts.append(_Vedtak(person, kidx, o, t, day, fra, til, reg))

    n = len(s)
    none = np.full(n, NONE_DAY, dtype=np.int64)
    # TILDELING 3-40 days before the start, in the same kommune structure (so the same code),
    # registered before the start is; the defect: none, or one dated after the start
    has = ~s.no_vedtak | (rng.random(n) < 0.5)
    day = s.start - rng.integers(3, 41, n)
    cross = kom.structure(day) != kom.structure(s.start)
    day[cross] = kom.starts[kom.structure(s.start[cross])]
    day = np.minimum(day, s.start)
    day[s.no_vedtak] = s.start[s.no_vedtak] + rng.integers(5, 41, int(s.no_vedtak.sum()))
    fra = np.where(s.no_vedtak, day, s.start)
    rett, introl = pers.rett[s.person], pers.introl[s.person]
    planned = s.start + np.where(rett, 365, np.where(introl, 730, 1095))
    til = np.where(rng.random(n) < 0.7, planned, NONE_DAY)
    reg = _weekday(day + rng.integers(0, 3, n)) * DAY + _work_secs(rng, n)
    reg = np.where(s.no_vedtak, reg, np.minimum(reg, s.start_reg - 600))
    add(s.person[has], s.kom[has], "INTRO", "TILDELING", day[has], fra[has], til[has], reg[has])

    pid = np.arange(len(pers))
    avslag = rng.random(len(pers)) < 0.03
    ad = pers.start[avslag] - rng.integers(60, 200, int(avslag.sum()))
    add(pid[avslag], pers.home[avslag], "INTRO", "AVSLAG", ad, ad, none[: len(ad)])

    ns = rng.random(len(pers)) < 0.6
    nd = pers.bosdato[ns] + rng.integers(0, 61, int(ns.sum()))
    ntil = np.where(rng.random(len(nd)) < 0.5, nd + 3 * 365, NONE_DAY)
    add(pid[ns], pers.home[ns], "NORSK_SAMF", "TILDELING", nd, nd, ntil)

    length = s.end - s.start
    perm = (length > 120) & (rng.random(n) < 0.06)
    pf = s.start[perm] + 30 + (rng.random(int(perm.sum())) * (length - 90)[perm]).astype(np.int64)
    pd = pf - rng.integers(0, 11, len(pf))
    add(
        s.person[perm],
        s.kom[perm],
        "INTRO",
        "PERMISJON",
        pd,
        pf,
        pf + rng.integers(14, 121, len(pf)),
    )

    stm = (length > 90) & (rng.random(n) < 0.02)
    sf = s.start[stm] + 20 + (rng.random(int(stm.sum())) * (length - 60)[stm]).astype(np.int64)
    sd = sf - rng.integers(0, 8, len(sf))
    add(
        s.person[stm],
        s.kom[stm],
        "INTRO",
        "STANS_MIDLERTIDIG",
        sd,
        sf,
        sf + rng.integers(14, 61, len(sf)),
    )

    stans = s.reason == REASONS.index("STANS")
    se = s.end[stans]
    sd = se - rng.integers(0, 11, len(se))
    add(s.person[stans], s.kom[stans], "INTRO", "STANS_PERMANENT", sd, se, none[: len(se)])

    return _Vedtak(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(_Vedtak)))


@dataclass
class _Tiltak:
    spell: np.ndarray  # index into _Spells
    code: np.ndarray  # index into TILTAKSKODER
    fra: np.ndarray
    til: np.ndarray
    hours: np.ndarray  # tenths of an hour per week, -1 = not registered
    reg: np.ndarray


def _simulate_tiltak(
    rng: np.random.Generator, s: _Spells, defects: DefectRates, t_last: int
) -> _Tiltak:
    """NORSK for every spell (registered with it), plus others, more for longer spells."""
    n = len(s)
    length = np.maximum(s.end - s.start, 1)
    n_other = np.where(s.no_tiltak, 0, rng.poisson(np.minimum(0.5 + length / 120, 6.0)))
    has_norsk = ~s.no_tiltak
    spell = np.concatenate([np.flatnonzero(has_norsk), np.repeat(np.arange(n), n_other)])
    m = len(spell)
    norsk = np.zeros(m, dtype=bool)
    norsk[: int(has_norsk.sum())] = True
    other_codes = np.array([TILTAKSKODER.index(k) for k in OTHER_TILTAK])
    code = other_codes[_pick(rng, OTHER_TILTAK, m)]
    code[norsk] = TILTAKSKODER.index("NORSK")
    start, end, dur = s.start[spell], s.end[spell], length[spell]
    fra = np.where(
        norsk, start + rng.integers(0, 15, m), start + (rng.random(m) * dur * 0.8).astype(np.int64)
    )
    fra = np.minimum(fra, end)
    span = np.where(norsk, rng.integers(120, 721, m), rng.integers(20, 301, m))
    til = np.minimum(end, fra + span)
    hours = np.where(norsk, rng.choice(NORSK_HOURS, m), rng.choice(OTHER_HOURS, m))
    hours[rng.random(m) < 0.01] = -1
    planned = _weekday(fra + rng.integers(-14, 21, m)) * DAY + _work_secs(rng, m)
    reg = np.where(norsk, s.start_reg[spell], np.maximum(s.start_reg[spell], planned))
    visible = reg <= t_last
    rate = _scaled(defects.tiltak_utenfor_deltakelse, int(visible.sum()), visible)
    outside = visible & (rng.random(m) < rate)
    fra[outside] = start[outside] - rng.integers(3, 61, int(outside.sum()))
    return _Tiltak(spell, code, fra, til, hours.astype(np.int64), reg)


class _History:
    """The simulated register, with every row pre-rendered for fast snapshots.

    Rows of each file are sorted by registration time and numbered in that order, so the
    rows present at a moment are a prefix of each table.
    """

    def __init__(
        self, *, persons: int, start: str, end: str, seed: int, plan: list[Delivery],
        defects: DefectRates, correction: float = 0.0,
    ) -> None:  # fmt: skip
        rng = np.random.default_rng([seed, 1])
        t_last = plan[-1].extracted_secs
        d_last = _days(plan[-1].snapshot_date)
        y0, m0 = parse_period(start)
        y1, m1 = parse_period(end)
        kom = _Kommuner(rng)
        pers = _simulate_persons(
            rng, persons, y0 * 12 + m0 - 1 - HISTORY_MONTHS, y1 * 12 + m1 - 1, kom
        )
        spells = _simulate_spells(rng, pers, kom, d_last)
        _register_spells(rng, spells)
        _spell_defects(rng, spells, pers, kom, defects, t_last, d_last)
        vedtak = _simulate_vedtak(rng, spells, pers, kom)
        tiltak = _simulate_tiltak(rng, spells, defects, t_last)
        nights = [d.snapshot_date for d in plan if d.kind == "daily"]
        _correction_backlog(seed, correction, nights, spells, tiltak)

        # persons appear with their first registration; identity numbers
        n = len(pers)
        first_reg = np.full(n, NEVER)
        np.minimum.at(first_reg, spells.person, spells.start_reg)
        np.minimum.at(first_reg, vedtak.person, vedtak.reg)
        fnr = _fodselsnummer(rng, pers.birth, ~pers.female, rng.random(n) < D_NUMMER_SHARE)
        visible = first_reg <= t_last
        rate = _scaled(defects.ugyldig_fodselsnummer, int(visible.sum()), visible)
        bad = visible & (rng.random(n) < rate)
        fnr[bad] = _break_check_digit(rng, fnr[bad])

        p_order = np.lexsort((np.arange(n), first_reg))
        lopenr = np.empty(n, dtype=np.int64)
        lopenr[p_order] = 100_001 + np.arange(n)
        s_order = np.lexsort((np.arange(len(spells)), spells.start_reg))
        spell_id = np.empty(len(spells), dtype=np.int64)
        spell_id[s_order] = 500_001 + np.arange(len(spells))

        self._render_personer(pers, spells, kom, fnr, first_reg, p_order, lopenr)
        self._render_deltakelser(spells, s_order, spell_id, lopenr)
        self._render_vedtak(vedtak, kom, lopenr)
        self._render_tiltak(tiltak, spells, kom, spell_id, lopenr)

    def _render_personer(
        self, pers: _Persons, s: _Spells, kom: _Kommuner, fnr: np.ndarray,
        first_reg: np.ndarray, order: np.ndarray, lopenr: np.ndarray,
    ) -> None:  # fmt: skip
        p = order
        self.p_reg = first_reg[p]
        self.p_prefix = _join(
            _str(lopenr[p]), fnr[p], np.where(pers.female[p], "K", "M").astype(object),
            _fmt_date(pers.birth[p]), pers.land[p], kom.code(pers.home[p], pers.bosdato[p]),
            _fmt_date(pers.bosdato[p]),
            np.where(pers.introl[p], "INTROL", "INTEGRL").astype(object), pers.kategori[p],
            np.where(pers.skjermet[p], spec.TRUE, spec.FALSE).astype(object), "",
        )  # fmt: skip
        # changes to a person (for endret_tid), sorted by time, with the person's row number
        row = np.empty(len(pers), dtype=np.int64)
        row[order] = np.arange(len(pers))
        corrected = s.corr_t != NEVER
        ev_p = np.concatenate(
            [np.arange(len(pers)), *[row[s.person]] * 3, row[s.person[corrected]]]
        )
        ev_t = np.concatenate([self.p_reg, s.start_reg, s.end_reg, s.reason_t, s.corr_t[corrected]])
        eo = np.argsort(ev_t, kind="stable")
        self.ev_p, self.ev_t = ev_p[eo], ev_t[eo]
        self._ev_pos = 0
        self._endret = np.full(len(pers), np.iinfo(np.int64).min)

    def _render_deltakelser(
        self, s: _Spells, order: np.ndarray, spell_id: np.ndarray, lopenr: np.ndarray
    ) -> None:
        o = order
        self.s_reg = s.start_reg[o]
        self.s_end_reg = s.end_reg[o]
        self.s_reason_t = s.reason_t[o]
        self.s_corr_t = s.corr_t[o]
        self.s_has_reason = (s.reason >= 0)[o]
        head = _join(
            _str(spell_id[o]), _str(lopenr[s.person[o]]), s.kom_code[o], _fmt_date(s.start[o])
        )
        tail = _join(s.sluttmaal[o], _fmt_ts(s.start_reg[o]))
        reason = np.array([*REASONS, ""], dtype=object)  # -1 -> ""
        ended = head + ";" + _fmt_date(s.end[o]) + ";"
        system = np.where(s.system[o], spec.TRUE, spec.FALSE).astype(object)
        rest = ";" + system + ";" + tail + ";" + _fmt_ts(s.end_reg[o])
        corrected = np.where(s.corr_t != NEVER, s.corr_reason, s.reason)[o]
        # four states: open; ended without reason; with the first reason; with the corrected one
        self.s_lines = (
            head + ";;;" + spec.FALSE + ";" + tail + ";",
            ended + rest,
            ended + reason[s.reason[o]] + rest,
            ended + reason[corrected] + rest,
        )

    def _render_vedtak(self, v: _Vedtak, kom: _Kommuner, lopenr: np.ndarray) -> None:
        o = np.lexsort((np.arange(len(v.reg)), v.reg))
        self.v_reg = v.reg[o]
        self.v_lines = _join(
            _str(700_001 + np.arange(len(o))), _str(lopenr[v.person[o]]),
            kom.code(v.kom[o], v.day[o]), v.ordning[o], v.typ[o], _fmt_date(v.day[o]),
            _fmt_date(v.fra[o]), _fmt_date(v.til[o]), _fmt_ts(self.v_reg),
        )  # fmt: skip

    def _render_tiltak(
        self, t: _Tiltak, s: _Spells, kom: _Kommuner, spell_id: np.ndarray, lopenr: np.ndarray
    ) -> None:
        o = np.lexsort((np.arange(len(t.reg)), t.reg))
        sp = t.spell[o]
        self.t_reg = t.reg[o]
        self.t_til = t.til[o]
        hrs = t.hours[o]
        hstr = _str(hrs // 10) + "," + _str(hrs % 10)
        hstr[hrs < 0] = ""
        pre = _join(
            _str(900_001 + np.arange(len(o))), _str(lopenr[s.person[sp]]), _str(spell_id[sp]),
            kom.code(s.kom[sp], t.fra[o]), np.array(TILTAKSKODER, dtype=object)[t.code[o]],
            _fmt_date(t.fra[o]), "",
        )  # fmt: skip
        post = ";" + hstr + ";" + _fmt_ts(self.t_reg)
        # til_dato shows once the tiltak has ended (before the snapshot date)
        self.t_lines = (pre + post, pre + _fmt_date(t.til[o]) + post)

    # --- one snapshot --------------------------------------------------------------------------
    def rows(self, delivery: Delivery) -> dict[str, list[str]]:
        """The data rows of each file as the register stood at ``delivery`` (in time order)."""
        t = delivery.extracted_secs
        n_p = int(np.searchsorted(self.p_reg, t, side="right"))
        stop = int(np.searchsorted(self.ev_t, t, side="right"))
        if stop < self._ev_pos:  # deliveries out of order: start over
            self._ev_pos = 0
            self._endret[:] = np.iinfo(np.int64).min
        sl = slice(self._ev_pos, stop)
        np.maximum.at(self._endret, self.ev_p[sl], self.ev_t[sl])
        self._ev_pos = stop
        personer = self.p_prefix[:n_p] + _fmt_ts(self._endret[:n_p])

        n_s = int(np.searchsorted(self.s_reg, t, side="right"))
        ended = self.s_end_reg[:n_s] <= t
        has = self.s_has_reason[:n_s] & (self.s_reason_t[:n_s] <= t)
        corr = self.s_corr_t[:n_s] <= t
        state = np.where(~ended, 0, np.where(~has, 1, np.where(corr, 3, 2)))
        deltakelser = np.choose(state, [lines[:n_s] for lines in self.s_lines])

        n_v = int(np.searchsorted(self.v_reg, t, side="right"))
        n_t = int(np.searchsorted(self.t_reg, t, side="right"))
        done = self.t_til[:n_t] < _days(delivery.snapshot_date)
        tiltak = np.where(done, self.t_lines[1][:n_t], self.t_lines[0][:n_t])
        return {
            "personer.csv": personer.tolist(),
            "deltakelser.csv": deltakelser.tolist(),
            "vedtak.csv": self.v_lines[:n_v].tolist(),
            "tiltak.csv": tiltak.tolist(),
        }


def correction_nights(start: str, end: str, *, weeks: int = 8) -> list[date]:
    """Weekly nights in the weeks before the last deadline the periods ``start``..``end``
    cover (end of February of the year after a reference year), as in production, where
    kommuner correct most in January and February. Empty if no deadline falls inside."""
    snaps = [snapshot_for_period(p) for p in periods_between(start, end)]
    years = [
        y
        for y in range(snaps[0].year - 1, snaps[-1].year)
        if snaps[0] <= date(y + 1, 1, 1) and date(y + 1, 3, 1) <= snaps[-1]
    ]
    if not years:
        return []
    frist = date(years[-1] + 1, 3, 1) - timedelta(days=1)
    nights = [frist - timedelta(days=1 + 7 * k) for k in range(weeks)]
    nights = [d - timedelta(days=1) if d.day == 1 else d for d in nights]
    return sorted(d for d in nights if d.year == frist.year)


def _correction_backlog(
    seed: int, share: float, nights: list[date], s: _Spells, t: _Tiltak
) -> None:
    """Registrations of reference year Y that kommuner catch up on in its correction window.

    For a ``share`` of the spells that lasted more than 30 days in Y, every tiltak is
    registered late, and for ``share`` x 3 of the spells that ended in Y's last quarter the
    avslutningsaarsak is: each kommune works through its backlog at its own pace, from
    1 January to between five weeks before and three weeks after the deadline (so some are
    behind). Only those registration moments change (tiltak are numbered in registration
    order, so their numbers shift); the defect rates measured in the last delivery are as
    without it, and a separate random stream leaves every other draw as it was.
    """
    if share <= 0 or not nights:
        return
    y = nights[0].year - 1
    rng = np.random.default_rng([seed, 5])
    n = len(s)
    y_start, y_end = _days(date(y, 1, 1)), _days(date(y + 1, 1, 1))
    frist = _days(date(y + 1, 3, 1)) - 1
    span = rng.uniform(frist - y_end - 35, frist - y_end + 20, int(s.kom.max()) + 1)
    fix_t = (y_end + 1 + (rng.random(n) * span[s.kom]).astype(np.int64)) * DAY
    fix_t += _work_secs(rng, n)
    lasted = (s.start <= y_end - 31) & (s.end >= y_start) & ~s.no_tiltak
    late_tiltak = lasted & (rng.random(n) < share)
    t.reg = np.where(late_tiltak[t.spell], np.maximum(t.reg, fix_t[t.spell]), t.reg)
    q4 = (s.end >= _days(date(y, 10, 1))) & (s.end < y_end) & (s.reason >= 0) & ~s.system
    late_reason = q4 & (rng.random(n) < min(1.0, 3 * share))
    s.reason_t = np.where(late_reason, np.maximum(s.reason_t, fix_t), s.reason_t)
    s.corr_t = np.where(
        late_reason & (s.corr_t != NEVER), np.maximum(s.corr_t, s.reason_t + DAY), s.corr_t
    )


# --- writing ----------------------------------------------------------------------------------
def _write_delivery(out_dir: Path, delivery: Delivery, rows: dict[str, list[str]]) -> Path:
    folder = out_dir / delivery.snapshot_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / spec.MANIFEST
    manifest_path.unlink(missing_ok=True)  # "still being written" until the manifest is back
    eol = "\r\n" if delivery.crlf else "\n"
    codec = "cp1252" if delivery.encoding == "windows-1252" else "utf-8"
    files: dict[str, tuple[int, str]] = {}
    for fspec in spec.FILES:
        lines = rows[fspec.name]
        text = eol.join([spec.DELIMITER.join(fspec.header), *lines]) + eol
        data = text.encode(codec)
        if delivery.bom:
            data = codecs.BOM_UTF8 + data
        (folder / fspec.name).write_bytes(data)
        files[fspec.name] = (len(lines), hashlib.sha256(data).hexdigest())
    write_manifest(
        folder,
        snapshot=delivery.snapshot_date,
        kind=delivery.kind,
        encoding=delivery.encoding,
        files=files,
        extracted_at=delivery.extracted_at,
    )
    return folder


def generate(
    out_dir: Path,
    *,
    persons: int,
    start: str,
    end: str,
    seed: int = 1,
    daily: int | Sequence[date] = DEFAULT_DAILY,
    defects: DefectRates | None = None,
    correction: float = 0.0,
    on_delivery: Callable[[Path, int, int], None] | None = None,
) -> list[Path]:
    """Write synthetic deliveries for reference periods ``start``..``end`` (``YYYY-MM``).

    ``persons`` is everyone who appears in the register over the whole history (including
    programmes started before ``start``). The monthly delivery for period 2024-01 is the folder
    ``2024-02-01``; ``daily`` daily deliveries follow the last monthly one (the 2nd, 3rd, ...).
    ``daily`` may also list the dates of the daily deliveries (:func:`correction_nights`);
    ``correction`` (a share, default none) puts a backlog of the reference year's
    registrations that kommuner catch up on in the correction window those nights fall in
    (:func:`_correction_backlog`), so the nightly snapshots show them correcting.
    ``defects`` defaults to :class:`DefectRates` () (small, non-zero rates). ``on_delivery``
    is called after each delivery with (folder, number done, total). Returns the folders
    written, oldest first.
    """
    if persons < 1:
        raise ValueError(f"persons={persons}: give at least 1 person")
    plan = delivery_plan(start, end, seed=seed, daily=daily)
    history = _History(
        persons=persons, start=start, end=end, seed=seed, plan=plan,
        defects=defects if defects is not None else DefectRates(), correction=correction,
    )  # fmt: skip
    out_dir = Path(out_dir)
    written = []
    for i, delivery in enumerate(plan):
        written.append(_write_delivery(out_dir, delivery, history.rows(delivery)))
        if on_delivery is not None:
            on_delivery(written[-1], i + 1, len(plan))
    return written
