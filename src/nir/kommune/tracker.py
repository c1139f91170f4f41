"""The IMDi tracker: is every kommune on its way to a clean register by the deadline?

For reference year Y the **correction window** runs from the first snapshot after Y ended
(1 January Y+1) to the deadline (``settings.annual_deadline(Y)``). Every snapshot's
completeness (monthly and nightly) is kept in the restricted database
(``kontroll.registreringskvalitet``, filled by the control-list step), so the tracker reads a
time series: per kommune and control the share of records without findings.

Per kommune and control of IMDi's deadline notice (avslutningsårsak, vedtak, tiltak,
sluttmål) the tracker fits a straight line to the window's shares (least squares over days),
extrapolates it to the deadline, and calls the kommune **behind** when a projected share is
below ``settings.tracker_target_share``. The date at which the line reaches the target is the
kommune's projected date (none when the pace is flat or falling). For every kommune behind
the page drafts IMDi's reminder in the notice's own terms.

Output (restricted, owner-only): ``<kontroll_dir>/sporing/<Y>/sporing_<Y>.html`` with the
national chart, a sortable and filterable table with a small trend chart per kommune and the
reminders; ``sporing_<Y>.csv`` (kommune × control) and ``paaminnelser_<Y>.csv``.
"""

from __future__ import annotations

import csv
import math
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from nir.config import Settings
from nir.kommune import kontroller as kt

Punkt = tuple[date, float]
MAKS_DAGER = 3 * 365  # a pace that needs longer than this is "not at the current pace"


# --- projection (pure) ---------------------------------------------------------------------
@dataclass(frozen=True)
class Prognose:
    naa: float  # the newest share
    endring: float  # newest minus first share in the window
    ved_frist: float  # the fitted line at the deadline, within [0, 1]
    dato: date | None  # when the line reaches the target; None: not at the current pace
    henger_etter: bool  # projected share at the deadline below the target


def prognose(punkter: Sequence[Punkt], frist: date, maal: float) -> Prognose:
    """Linear fit of ``punkter`` (date, share), extrapolated to ``frist``.

    One point gives a flat line. A kommune already at the target gets its newest date.
    """
    if not punkter:
        raise ValueError("prognose needs at least one point")
    punkter = sorted(punkter)
    t0 = punkter[0][0]
    xs = [float((d - t0).days) for d, _ in punkter]
    ys = [float(v) for _, v in punkter]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = 0.0 if sxx == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    ved_frist = min(1.0, max(0.0, intercept + slope * (frist - t0).days))
    siste_dato, naa = punkter[-1]
    eps = 1e-9
    if naa >= maal - eps:
        dato: date | None = siste_dato
    elif slope > 0 and (dager := (maal - intercept) / slope) < MAKS_DAGER:
        dato = max(siste_dato + timedelta(days=1), t0 + timedelta(days=math.ceil(dager)))
    else:  # flat, falling, or so slow that it means the same
        dato = None
    return Prognose(
        naa=naa,
        endring=naa - ys[0],
        ved_frist=ved_frist,
        dato=dato,
        henger_etter=ved_frist < maal - eps and naa < maal - eps,
    )


# --- the window and its data -----------------------------------------------------------------
def vindu(settings: Settings, aar: int) -> tuple[date, date]:
    """The correction window of reference year ``aar``: 1 January aar+1 to the deadline."""
    return date(aar + 1, 1, 1), settings.annual_deadline(aar)


def aar_for_snapshot(settings: Settings, snapshot: date) -> int | None:
    """The reference year whose correction window holds ``snapshot``, if any."""
    aar = snapshot.year - 1
    start, frist = vindu(settings, aar)
    return aar if start <= snapshot <= frist else None


@dataclass
class Rad:
    """One kommune's row of the tracker."""

    kommune: str
    navn: str
    kontroller: dict[str, Prognose] = field(default_factory=dict)
    funn: dict[str, int] = field(default_factory=dict)  # newest snapshot
    kontrollert: dict[str, int] = field(default_factory=dict)
    serier: dict[str, list[Punkt]] = field(default_factory=dict)

    @property
    def henger_etter(self) -> bool:
        return any(p.henger_etter for p in self.kontroller.values())

    @property
    def laveste_prognose(self) -> float | None:
        vals = [p.ved_frist for p in self.kontroller.values()]
        return min(vals) if vals else None

    @property
    def dato(self) -> date | None:
        """When every judged control reaches the target; None if one never does."""
        datoer = [p.dato for p in self.kontroller.values()]
        if not datoer or any(d is None for d in datoer):
            return None
        return max(d for d in datoer if d is not None)

    @property
    def laveste_serie(self) -> list[Punkt]:
        """Per snapshot the lowest share among the judged controls (for the small chart)."""
        per_dato: dict[date, float] = {}
        for k in kt.FRIST_KONTROLLER:
            for d, v in self.serier.get(k, []):
                per_dato[d] = min(v, per_dato.get(d, 1.0))
        return sorted(per_dato.items())


@dataclass
class Sporing:
    aar: int
    frist: date
    maal: float
    snapshots: list[date]
    land: Rad
    kommuner: list[Rad]

    @property
    def bak(self) -> list[Rad]:
        return [r for r in self.kommuner if r.henger_etter]


def beregn(
    rows: Sequence[tuple[date, str, str, str, int, int, float | None]],
    *,
    aar: int,
    frist: date,
    maal: float,
    navn: dict[str, str],
) -> Sporing:
    """Build the tracker from completeness rows of the window.

    ``rows``: (snapshot_date, nivaa, region, kontroll, kontrollert, funn, andel_uten_funn).
    """
    snapshots = sorted({r[0] for r in rows})
    rader: dict[tuple[str, str], Rad] = {}
    for snap, nivaa, region, kontroll, kontrollert, funn, andel in sorted(rows):
        if nivaa not in ("land", "kommune"):
            continue
        rad = rader.setdefault((nivaa, region), Rad(region, navn.get(region, "")))
        rad.funn[kontroll] = int(funn)
        rad.kontrollert[kontroll] = int(kontrollert)
        if andel is not None and kontrollert:
            rad.serier.setdefault(kontroll, []).append((snap, float(andel)))
    for rad in rader.values():
        for kontroll in kt.FRIST_KONTROLLER:
            punkter = rad.serier.get(kontroll)
            if punkter:
                rad.kontroller[kontroll] = prognose(punkter, frist, maal)
    land = rader.pop(("land", "0000"), Rad("0000", "Norge"))
    land.navn = land.navn or "Norge"
    kommuner = sorted(
        (r for (nivaa, _), r in rader.items() if nivaa == "kommune"), key=lambda r: r.kommune
    )
    return Sporing(aar, frist, maal, snapshots, land, kommuner)


def les(settings: Settings, aar: int) -> list[tuple[Any, ...]]:
    """The window's completeness rows from the restricted database (empty if none)."""
    path = settings.kontroll_dir / "kontroll.duckdb"
    if not path.exists():
        return []
    start, frist = vindu(settings, aar)
    con = duckdb.connect(str(path), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from duckdb_tables() "
            "where schema_name = 'kontroll' and table_name = 'registreringskvalitet'"
        ).fetchone()
        if not exists or not exists[0]:
            return []
        return con.execute(
            """select snapshot_date, nivaa, region, kontroll, kontrollert, funn,
                      cast(andel_uten_funn as double)
               from kontroll.kontroll.registreringskvalitet
               where snapshot_date between ? and ? and nivaa in ('land', 'kommune')
               order by snapshot_date, nivaa, region, kontroll""",
            [start, frist],
        ).fetchall()
    finally:
        con.close()


def siste_aar(settings: Settings) -> int | None:
    """The newest reference year whose correction window holds a kept snapshot."""
    path = settings.kontroll_dir / "kontroll.duckdb"
    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        try:
            snaps = [
                r[0]
                for r in con.execute(
                    "select distinct snapshot_date from kontroll.kontroll.registreringskvalitet "
                    "order by 1 desc"
                ).fetchall()
            ]
        except duckdb.CatalogException:
            return None
    finally:
        con.close()
    for snap in snaps:
        aar = aar_for_snapshot(settings, snap)
        if aar is not None:
            return aar
    return None


# --- text ------------------------------------------------------------------------------------
def pst(v: float | None, desimaler: int = 1) -> str:
    if v is None:
        return "–"
    return f"{v * 100:.{desimaler}f} %".replace(".", ",")


def pp(v: float | None) -> str:
    if v is None:
        return "–"
    tegn = "+" if v > 0 else ("−" if v < 0 else "±")
    return f"{tegn}{abs(v) * 100:.1f} pp".replace(".", ",")


def dato(d: date | None) -> str:
    return d.strftime("%d.%m.%Y") if d else ""


def kommunetekst(kommune: str, navn: str) -> str:
    """The kommune as text a spreadsheet keeps: ``0301 Oslo`` (a bare 0301 loses its zero)."""
    return f"{kommune} {navn}".strip()


def antall(n: int, entall: str, flertall: str) -> str:
    """``n`` with the noun in the right number: 1 deltakelse, 0 or 2 deltakelser."""
    return f"{n} {entall if n == 1 else flertall}"


def paaminnelse(rad: Rad, sp: Sporing, snapshot: date) -> str:
    """The reminder to a kommune that is behind, in the deadline notice's terms."""
    n = {k: rad.funn.get(k, 0) for k in kt.FRIST_KONTROLLER}
    avsluttede = antall(
        n["MANGLER_AVSLUTNINGSAARSAK"], "avsluttet deltakelse", "avsluttede deltakelser"
    )
    prognosetekst = (
        f"Med dagens tempo vil registreringene først være à jour rundt {dato(rad.dato)}, "
        "etter fristen."
        if rad.dato and rad.dato > sp.frist
        else "Med dagens tempo blir registreringene ikke à jour før fristen."
    )
    return (
        f"Til {kommunetekst(rad.kommune, rad.navn)} kommune\n\n"
        f"Frist for å oppdatere opplysninger i NIR for {sp.aar} er {dato(sp.frist)}. "
        f"Da hentes tallene for {sp.aar} ut fra NIR, og det som ikke er registrert innen "
        "fristen, kommer ikke med i statistikken.\n\n"
        f"Per {dato(snapshot)} viser NIR for kommunen:\n"
        f"- {avsluttede} uten avslutningsårsak\n"
        f"- {antall(n['MANGLER_VEDTAK'], 'deltakelse', 'deltakelser')}"
        " uten vedtak om introduksjonsprogram\n"
        f"- {antall(n['MANGLER_TILTAK'], 'deltakelse', 'deltakelser')} uten registrerte tiltak\n"
        f"- {antall(n['MANGLER_SLUTTMAAL'], 'deltaker', 'deltakere')}"
        " etter integreringsloven uten sluttmål\n\n"
        f"{prognosetekst}\n\n"
        "Slik finner dere dem: bruk personlisten i NIR med filtrene med/uten vedtak, "
        "med/uten tiltak og med/uten sluttmål, og rapporten «Deltakere som har avsluttet "
        "introduksjonsprogram» for avslutningsårsak. Kommunepakken med kontrollisten (hvem "
        "det gjelder og hvor i NIR det rettes) ligger i kommunens mappe.\n\n"
        "Vennlig hilsen\nIMDi"
    )


# --- writing ---------------------------------------------------------------------------------
def _csv_writer(f: Any) -> Any:
    return csv.writer(f, delimiter=";", quotechar='"', lineterminator="\r\n")


def skriv_sporing(
    settings: Settings, aar: int, *, rows: list[tuple[Any, ...]] | None = None
) -> Path:
    """Write the tracker for reference year ``aar``; returns its folder."""
    from nir.contracts import kommuner as kl
    from nir.kommune.charts import Request, draw_all
    from nir.kommune.output import environment, neutralise, open_private, private_dir

    rows = les(settings, aar) if rows is None else rows
    start, frist = vindu(settings, aar)
    maal = settings.tracker_target_share
    sp = beregn(rows, aar=aar, frist=frist, maal=maal, navn=kl.current().names)
    siste = sp.snapshots[-1] if sp.snapshots else start

    land_serier = {kt.navn(k): sp.land.serier.get(k, []) for k in kt.FRIST_KONTROLLER}
    land_prognoser = {
        kt.navn(k): sp.land.kontroller[k].ved_frist
        for k in kt.FRIST_KONTROLLER
        if k in sp.land.kontroller
    }
    requests: list[Request] = [
        (
            "mot_frist",
            {
                "serier": land_serier,
                "frist": frist,
                "maal": maal,
                "prognoser": land_prognoser,
                "tittel": f"Hele landet: andel uten funn per kontroll, {aar}, mot fristen",
            },
        )
    ]
    for r in sp.kommuner:
        if r.laveste_serie:
            label = f"Trend for {kommunetekst(r.kommune, r.navn)}"
            requests.append(
                (
                    "sparkline",
                    {"punkter": r.laveste_serie, "frist": frist, "maal": maal, "label": label},
                )
            )
    svg = iter(draw_all(requests))
    nasjonal = next(svg)
    kommuner = [
        {
            "rad": r,
            "tekst": kommunetekst(r.kommune, r.navn),
            "fylke": r.kommune[:2],
            "funn_i_alt": sum(r.funn.get(k, 0) for k in kt.FRIST_KONTROLLER),
            "spark": next(svg) if r.laveste_serie else "",
        }
        for r in sp.kommuner
    ]
    bak = [
        {
            "rad": r,
            "tekst": kommunetekst(r.kommune, r.navn),
            "brev": paaminnelse(r, sp, siste),
            "under": [
                f"{kt.navn(k)} ({pst(p.ved_frist)})"
                for k, p in r.kontroller.items()
                if p.henger_etter
            ],
        }
        for r in sorted(sp.bak, key=lambda r: (r.dato is not None, r.dato or frist, r.kommune))
    ]
    html = (
        environment()
        .get_template("sporing.html.j2")
        .render(
            sp=sp,
            aar=aar,
            frist=dato(frist),
            start=dato(start),
            siste=dato(siste),
            maal=pst(maal, 0),
            antall_snapshots=len(sp.snapshots),
            snapshots=[dato(s) for s in sp.snapshots],
            nasjonal=nasjonal,
            kommuner=kommuner,
            bak=bak,
            kontroller=[(k, kt.navn(k)) for k in kt.FRIST_KONTROLLER],
            pst=pst,
            pp=pp,
            dato=dato,
        )
    )

    base = settings.kontroll_dir / "sporing"
    private_dir(settings.kontroll_dir)
    private_dir(base)
    final = base / str(aar)
    tmp = base / f".{aar}.tmp-{uuid.uuid4().hex[:8]}"
    private_dir(tmp)
    try:
        with open_private(tmp / f"sporing_{aar}.html", "utf-8") as f:
            f.write(html)
        with open_private(tmp / f"sporing_{aar}.csv", "utf-8-sig") as f:
            w = _csv_writer(f)
            w.writerow(
                [
                    "Kommune",
                    "Kontroll",
                    "Kontrollnavn",
                    "Uttrekk",
                    "Kontrollert",
                    "Funn",
                    "Andel uten funn (%)",
                    "Endring siden første uttrekk (prosentpoeng)",
                    "Prognose ved fristen (%)",
                    "Mål (%)",
                    "Prognosert à jour",
                    "Status",
                    "Frist",
                    "Hvor i NIR",
                ]
            )
            for r in [sp.land, *sp.kommuner]:
                for k in kt.KONTROLLER:
                    if k not in r.kontrollert:
                        continue
                    p = r.kontroller.get(k)
                    w.writerow(
                        [
                            "Norge"
                            if r is sp.land
                            else neutralise(kommunetekst(r.kommune, r.navn)),
                            k,
                            kt.navn(k),
                            dato(siste),
                            r.kontrollert.get(k, 0),
                            r.funn.get(k, 0),
                            _tall(r.serier[k][-1][1] * 100) if r.serier.get(k) else "",
                            _tall(p.endring * 100) if p else "",
                            _tall(p.ved_frist * 100) if p else "",
                            _tall(maal * 100),
                            dato(p.dato) if p else "",
                            ("henger etter" if p.henger_etter else "i rute") if p else "",
                            dato(frist),
                            kt.hvor(k),
                        ]
                    )
        with open_private(tmp / f"paaminnelser_{aar}.csv", "utf-8-sig") as f:
            w = _csv_writer(f)
            w.writerow(["Kommune", "Prognosert à jour", "Frist", "Påminnelse"])
            for b in bak:
                r = b["rad"]
                w.writerow([neutralise(b["tekst"]), dato(r.dato), dato(frist), b["brev"]])
        old = None
        if final.exists():
            old = base / f".{aar}.old-{uuid.uuid4().hex[:8]}"
            final.rename(old)
        tmp.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _tall(v: float) -> str:
    """A number for a Norwegian spreadsheet: one decimal, decimal comma."""
    return f"{v:.1f}".replace(".", ",")
