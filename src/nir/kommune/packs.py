"""The kommune pack: everything a kommune needs before the deadline, in Norwegian.

Per kommune, in ``<snapshot folder>/<kommune>/``:

- ``kommunepakke_<k>_<s>.html``: the control list (human names of the controls, ``feil`` /
  ``varsel``, where in NIR to fix each finding, and whether it is new, still open or fixed
  since the previous list), the completeness trend chart, the kommune's tiltak last year
  (persons and hours per tiltak) and its preliminary results (direkte overgang, with the
  «ikke registrert» endings shown as the range the share can still move within);
- ``kontrolliste_<k>_<s>.csv``, ``tiltak_<k>_<år>_<s>.csv``, ``resultater_<k>_<år>_<s>.csv``
  for a Norwegian spreadsheet (see :mod:`nir.kommune.controllists` for the dialect).

and ``index.html`` in the snapshot folder, linking every pack. The tiltak and results are the
kommune's own unsuppressed figures (its own data, on purpose): each pack holds only its own.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nir.config import Settings
from nir.kommune import kontroller as kt

if TYPE_CHECKING:
    from nir.kommune.output import PrivateFiles

# ASCII spellings in the warehouse's detail texts, shown with proper letters
_STAVING = (
    ("avslutningsaarsak", "avslutningsårsak"),
    ("sluttmaal", "sluttmål"),
    ("Fodselsnummer", "Fødselsnummer"),
)


def fjoraar(snapshot: date) -> int:
    """The year a pack's tiltak and results are for: the last year that has ended."""
    return snapshot.year - 1


def detalj(text: str | None) -> str:
    out = text or ""
    for ascii_, norsk in _STAVING:
        out = out.replace(ascii_, norsk)
    return out


@dataclass(frozen=True)
class Funn:
    nir_lopenr: int
    deltakelse_id: int | None
    kontroll: str
    alvorlighet: str  # error / warning
    detalj: str
    status: str  # kt.STATUS_*

    @property
    def navn(self) -> str:
        return kt.navn(self.kontroll)

    @property
    def alvorlighet_tekst(self) -> str:
        return kt.alvorlighet(self.alvorlighet)

    @property
    def hvor(self) -> str:
        return kt.hvor(self.kontroll)


def _key(r: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (r["nir_lopenr"], r["deltakelse_id"], r["kontroll"])


def med_status(
    naa: list[dict[str, Any]], forrige: list[dict[str, Any]] | None, alle_naa: set[tuple]
) -> tuple[list[Funn], list[Funn]]:
    """(open findings with status new / still open, findings fixed since the previous list).

    A finding is the same across lists when person, spell and control are. A finding that
    left this kommune's list but is still on another kommune's (the person moved) is not
    fixed. Without a previous list every finding is new.
    """
    for_keys = {_key(r) for r in forrige or []}
    aapne = [
        Funn(
            r["nir_lopenr"],
            r["deltakelse_id"],
            r["kontroll"],
            r["alvorlighet"],
            detalj(r["detalj"]),
            kt.STATUS_AAPEN if _key(r) in for_keys else kt.STATUS_NY,
        )
        for r in naa
    ]
    naa_keys = {_key(r) for r in naa}
    rettet = [
        Funn(
            r["nir_lopenr"],
            r["deltakelse_id"],
            r["kontroll"],
            r["alvorlighet"],
            detalj(r["detalj"]),
            kt.STATUS_RETTET,
        )
        for r in forrige or []
        if _key(r) not in naa_keys and _key(r) not in alle_naa
    ]
    return aapne, rettet


def _tall(v: float, desimaler: int = 1) -> str:
    return f"{v:.{desimaler}f}".replace(".", ",")


def _writer(f: Any) -> Any:
    return csv.writer(f, delimiter=";", quotechar='"', lineterminator="\r\n")


KONTROLLISTE_HEADER = (
    "Kommune",
    "NIR-løpenummer",
    "Deltakelse-ID",
    "Kontroll",
    "Kontrollnavn",
    "Alvorlighet",
    "Status",
    "Detalj",
    "Hvor i NIR",
    "Hva skal gjøres",
    "Frist",
    "Uttrekk",
)


def write_packs(settings: Settings, snapshot: date, data: Any, folder: Path) -> None:
    """Write the index and every kommune's pack into ``folder`` (the snapshot's tmp folder);
    the files are written on threads while the next ones are rendered."""
    from nir.kommune.output import PrivateFiles

    with PrivateFiles() as files:
        _write_packs(settings, snapshot, data, folder, files)


def _write_packs(
    settings: Settings, snapshot: date, data: Any, folder: Path, files: PrivateFiles
) -> None:
    from nir.contracts import kommuner as kl
    from nir.kommune.charts import Request, draw_all
    from nir.kommune.output import (
        environment,
        neutralise,
        private_dir,
        reference_year,
    )
    from nir.kommune.tracker import kommunetekst, pst

    names = dict(kl.current().names)
    names.setdefault("9999", "Ukjent kommune")
    aar = reference_year(settings, snapshot)
    frist_dato = settings.annual_deadline(aar)
    frist = frist_dato.strftime("%d.%m.%Y")
    uttrekk = snapshot.strftime("%d.%m.%Y")
    forrige = data.forrige.strftime("%d.%m.%Y") if data.forrige else None
    ifjor = fjoraar(snapshot)
    env = environment()
    pakke_mal = env.get_template("kommunepakke.html.j2")
    maal = settings.tracker_target_share

    naa_per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in data.rows:
        naa_per[r["programkommune"]].append(r)
    for_per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in data.forrige_rows:
        for_per[r["programkommune"]].append(r)
    alle_naa = {_key(r) for r in data.rows}
    kommuner = sorted(set(data.kommuner) | set(for_per))

    indeks = []
    # each page waits for its chart: the charts are drawn together (on every core), then the
    # pages are written
    sider: list[tuple[Path, dict[str, Any]]] = []
    grafer: list[Request] = []
    for kommune in kommuner:
        navn = names.get(kommune, "")
        tekst = kommunetekst(kommune, navn)
        aapne, rettet = med_status(
            naa_per.get(kommune, []), for_per.get(kommune) if data.forrige else None, alle_naa
        )
        sub = folder / kommune
        private_dir(sub)
        stem = f"{kommune}_{snapshot.isoformat()}"

        # --- control list CSV ----------------------------------------------------------------
        kl_csv = f"kontrolliste_{stem}.csv"
        with files.text(sub / kl_csv, "utf-8-sig") as f:
            w = _writer(f)
            w.writerow(KONTROLLISTE_HEADER)
            for x in [*aapne, *rettet]:
                w.writerow(
                    [
                        neutralise(v)
                        for v in (
                            tekst,
                            x.nir_lopenr,
                            "" if x.deltakelse_id is None else x.deltakelse_id,
                            x.kontroll,
                            x.navn,
                            x.alvorlighet_tekst,
                            x.status,
                            x.detalj,
                            x.hvor,
                            kt.hva(x.kontroll),
                            frist,
                            uttrekk,
                        )
                    ]
                )

        # --- tiltak and results CSV -------------------------------------------------------------
        tiltak = [
            (kode, _tiltaknavn(kode), deltakere, timer)
            for kode, deltakere, timer in data.tiltak.get(kommune, [])
        ]
        tiltak_csv = None
        if data.tiltak_snapshot is not None:
            tiltak_csv = f"tiltak_{kommune}_{ifjor}_{snapshot.isoformat()}.csv"
            with files.text(sub / tiltak_csv, "utf-8-sig") as f:
                w = _writer(f)
                w.writerow(
                    ["Kommune", "År", "Tiltak", "Tiltakskode", "Personer", "Timer", "Uttrekk"]
                )
                for kode, tnavn, deltakere, timer in tiltak:
                    w.writerow(
                        [
                            neutralise(tekst),
                            ifjor,
                            tnavn,
                            kode,
                            deltakere,
                            _tall(timer),
                            data.tiltak_snapshot.strftime("%d.%m.%Y"),
                        ]
                    )
        res = data.resultater.get(kommune)
        resultat = None
        if res is not None and res["avsluttede"] > 0:
            n = res["avsluttede"]
            resultat = {
                **res,
                "andel": res["direkte_overgang"] / n,
                "hoyeste": (res["direkte_overgang"] + res["ikke_registrert"]) / n,
            }
        res_csv = None
        if data.resultater_snapshot is not None:
            res_csv = f"resultater_{kommune}_{ifjor}_{snapshot.isoformat()}.csv"
            with files.text(sub / res_csv, "utf-8-sig") as f:
                w = _writer(f)
                w.writerow(
                    [
                        "Kommune",
                        "År",
                        "Avsluttede",
                        "Direkte overgang",
                        "Overgang arbeid",
                        "Overgang utdanning",
                        "Avslutningsårsak ikke registrert",
                        "Andel direkte overgang (%)",
                        "Høyeste mulige andel (%)",
                        "Uttrekk",
                    ]
                )
                if resultat is not None:
                    w.writerow(
                        [
                            neutralise(tekst),
                            ifjor,
                            resultat["avsluttede"],
                            resultat["direkte_overgang"],
                            resultat["overgang_arbeid"],
                            resultat["overgang_utdanning"],
                            resultat["ikke_registrert"],
                            _tall(resultat["andel"] * 100),
                            _tall(resultat["hoyeste"] * 100),
                            data.resultater_snapshot.strftime("%d.%m.%Y"),
                        ]
                    )

        # --- summary, chart, page --------------------------------------------------------------
        oppsummering = []
        for kode in kt.KONTROLLER:
            mine = [x for x in aapne if x.kontroll == kode]
            fikset = [x for x in rettet if x.kontroll == kode]
            if not mine and not fikset:
                continue
            oppsummering.append(
                {
                    "kode": kode,
                    "navn": kt.navn(kode),
                    "hva": kt.hva(kode),
                    "hvor": kt.hvor(kode),
                    "feil": sum(x.alvorlighet == "error" for x in mine),
                    "varsler": sum(x.alvorlighet != "error" for x in mine),
                    "nye": sum(x.status == kt.STATUS_NY for x in mine),
                    "rettet": len(fikset),
                }
            )
        serier = data.kvalitet.get(kommune, {})
        graf: int | None = None  # the page's chart: its index in ``grafer``
        punkter = [v for k in kt.FRIST_KONTROLLER for _, v in serier.get(k, [])]
        # a flat line at 100 % says nothing the summary does not (and costs a chart)
        if punkter and min(punkter) < 1.0:
            graf = len(grafer)
            grafer.append(
                (
                    "mot_frist",
                    {
                        "serier": {kt.navn(k): serier.get(k, []) for k in kt.FRIST_KONTROLLER},
                        "frist": frist_dato,
                        "maal": maal,
                        "tittel": f"{tekst}: andel uten funn per kontroll",
                        "storrelse": (7.0, 3.0),
                    },
                )
            )
        pakke = f"kommunepakke_{stem}.html"
        side = dict(
            kommune=kommune,
            tekst=tekst,
            uttrekk=uttrekk,
            aar=aar,
            frist=frist,
            forrige=forrige,
            grace=settings.registration_grace_months,
            oppsummering=oppsummering,
            aapne=aapne,
            rettet=rettet,
            graf=graf,
            uten_funn=bool(punkter) and graf is None,
            ifjor=ifjor,
            tiltak=tiltak,
            tiltak_uttrekk=data.tiltak_snapshot.strftime("%d.%m.%Y")
            if data.tiltak_snapshot
            else None,
            resultat=resultat,
            resultat_uttrekk=data.resultater_snapshot.strftime("%d.%m.%Y")
            if data.resultater_snapshot
            else None,
            filer=[f for f in (kl_csv, tiltak_csv, res_csv) if f],
            pst=pst,
            tall=_tall,
        )
        sider.append((sub / pakke, side))

        naa_andeler = [serier[k][-1][1] for k in kt.FRIST_KONTROLLER if serier.get(k)]
        indeks.append(
            {
                "kommune": kommune,
                "tekst": tekst,
                "fylke": kommune[:2],
                "lenke": f"{kommune}/{pakke}",
                "feil": sum(x.alvorlighet == "error" for x in aapne),
                "varsler": sum(x.alvorlighet != "error" for x in aapne),
                "nye": sum(x.status == kt.STATUS_NY for x in aapne),
                "rettet": len(rettet),
                "laveste": min(naa_andeler) if naa_andeler else None,
            }
        )

    svg = draw_all(grafer)
    for path, side in sider:
        graf = side.pop("graf")
        html = pakke_mal.render(**side, graf="" if graf is None else svg[graf])
        with files.text(path, "utf-8") as f:
            f.write(html)

    html = env.get_template("indeks.html.j2").render(
        uttrekk=uttrekk, aar=aar, frist=frist, forrige=forrige, kommuner=indeks, pst=pst
    )
    with files.text(folder / "index.html", "utf-8") as f:
        f.write(html)


def _tiltaknavn(kode: str) -> str:
    from nir.contracts.nir_export import TILTAKSKODER

    return TILTAKSKODER.get(kode, kode)
