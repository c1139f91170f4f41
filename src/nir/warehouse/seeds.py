"""Export the dbt seeds from the contract (``nir_export``), the registration controls
(``nir.contracts.kontroller``) and the kommune classification (``nir.contracts.kommuner``),
so that every code list, control and kommune rule lives in one place.

``nir seeds`` writes them into ``dbt_project/seeds/``; the files are committed, and a test
asserts they equal what :func:`render_seeds` produces.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

from nir.contracts import kommuner
from nir.contracts import nir_export as spec
from nir.contracts.kontroller import KONTROLLER

# Before the oldest shipped classification, the oldest one applies (``kommuner.inndeling_on``).
_BEGINNING = date(1900, 1, 1)


def _csv(header: list[str], rows: list[list[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def _bool(v: bool) -> str:
    return "true" if v else "false"


def _kommuner_rows() -> list[list[object]]:
    """One row per (code, name) validity period, consecutive classifications merged."""
    inds = kommuner.inndelinger()
    rows: list[list[object]] = []
    open_: dict[tuple[str, str], date] = {}
    for i, ind in enumerate(inds):
        start = _BEGINNING if i == 0 else ind.valid_from
        current = set(ind.names.items())
        for key in list(open_):
            if key not in current:
                rows.append([key[0], key[1], open_.pop(key), ind.valid_from])
        for key in current:
            open_.setdefault(key, start)
    for key, start in open_.items():
        rows.append([key[0], key[1], start, None])
    rows.sort(key=lambda r: (r[0], r[2]))
    return rows


def _harmonisering_rows() -> list[list[object]]:
    """Every known code -> its 2024 code(s); a split lists its successors in order (1 first)."""
    first_seen: dict[str, date] = {}
    for ind in kommuner.inndelinger():
        for code in ind.names:
            first_seen.setdefault(code, ind.valid_from)
    codes = set(first_seen) | {c.old_code for c in kommuner.changes()}
    rows: list[list[object]] = []
    for code in sorted(codes):
        after = first_seen[code] - timedelta(days=1) if code in first_seen else date(1900, 1, 1)
        succ = kommuner.successors(code, after)
        if any(s not in kommuner.current().names for s in succ):
            continue  # a code that never reached the 2024 structure: left unharmonised
        rows += [[code, s, n] for n, s in enumerate(succ, start=1)]
    return rows


def render_seeds() -> dict[str, str]:
    """File name -> CSV text of every seed."""
    kodelister = [
        *(["kjonn", k] for k in spec.KJONN),
        *(["regelverk", k] for k in spec.REGELVERK),
        *(["kategori", k] for k in spec.KATEGORI),
        *(["ordning", k] for k in spec.ORDNING),
        *(["vedtakstype", k] for k in spec.VEDTAKSTYPE),
    ]
    return {
        "avslutningsaarsaker.csv": _csv(
            ["kode", "navn", "direkte_overgang", "overgang_type"],
            [
                [a.code, a.label, _bool(a.direkte_overgang), a.overgang_type]
                for a in spec.AVSLUTNINGSAARSAKER.values()
            ],
        ),
        "tiltakskoder.csv": _csv(["kode", "navn"], [[k, v] for k, v in spec.TILTAKSKODER.items()]),
        "sluttmaal.csv": _csv(["kode", "navn"], [[k, v] for k, v in spec.SLUTTMAAL.items()]),
        "kodelister.csv": _csv(["kodeliste", "kode"], kodelister),
        "kontroller.csv": _csv(
            ["kode", "alvorlighet", "navn", "beskrivelse", "frist_kontroll", "rekkefolge"],
            [
                [k.kode, k.alvorlighet, k.navn, k.beskrivelse, _bool(k.frist_kontroll), n]
                for n, k in enumerate(KONTROLLER.values(), start=1)
            ],
        ),
        "kommuner.csv": _csv(
            ["kommunenummer", "navn", "gyldig_fra", "gyldig_til"], _kommuner_rows()
        ),
        "kommuneendringer.csv": _csv(
            ["gammel_kode", "ny_kode", "endret_dato"],
            [[c.old_code, c.new_code, c.occurred] for c in kommuner.changes()],
        ),
        "fylker.csv": _csv(
            ["fylkesnummer", "navn"], [[k, v] for k, v in sorted(kommuner.fylker().items())]
        ),
        "kommune_harmonisering.csv": _csv(
            ["kommunenummer", "kommunenummer_2024", "rekkefolge"], _harmonisering_rows()
        ),
    }


def seeds_dir(dbt_project_dir: Path) -> Path:
    return dbt_project_dir / "seeds"


def write_seeds(dbt_project_dir: Path) -> list[Path]:
    """Write every seed into ``<dbt_project_dir>/seeds/``; returns the files that changed."""
    out = seeds_dir(dbt_project_dir)
    out.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in render_seeds().items():
        path = out / name
        if not path.exists() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
            changed.append(path)
    return changed
