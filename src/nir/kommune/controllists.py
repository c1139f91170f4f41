"""Control lists for the kommuner: what to fix in NIR before the deadline.

``write_control_lists(settings, snapshot)`` reads ``marts.kontrolliste`` for the snapshot and
writes

- the restricted database ``<kontroll_dir>/kontroll.duckdb``, schema ``kontroll``, table
  ``kontrolliste`` (every snapshot; the snapshot's rows are replaced on a rerun);
- per kommune, under ``<kontroll_dir>/lister/<snapshot>/<kommune>/``, one CSV (``;``, UTF-8
  with BOM, CRLF, formula injection neutralised) and one HTML page (Jinja2, autoescaped)
  grouped by control, with counts and the deadline. A kommune's files hold only the findings
  of its own programkommune.

Everything is owner-only (files 0600, folders 0700): the lists carry ``nir_lopenr``. The
snapshot's folder is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import csv
import os
import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from nir.config import Settings

COLUMNS = (
    "programkommune",
    "nir_lopenr",
    "deltakelse_id",
    "kontroll",
    "alvorlighet",
    "detalj",
    "snapshot_date",
)

# What the kommune must do for each control (shown on the HTML page).
BESKRIVELSER: dict[str, str] = {
    "MANGLER_AVSLUTNINGSAARSAK": "Registrer avslutningsårsak for avsluttede deltakelser "
    "(også de NIR har avsluttet automatisk).",
    "MANGLER_VEDTAK": "Registrer vedtak om tildeling av introduksjonsprogram (INTRO, TILDELING) "
    "datert senest ved deltakelsens start.",
    "MANGLER_TILTAK": "Registrer tiltak for deltakelser som har vart mer enn 30 dager.",
    "MANGLER_SLUTTMAAL": "Registrer sluttmål for deltakere etter integreringsloven.",
    "SEN_REGISTRERING": "Start eller avslutning registrert mer enn to måneder etter at den "
    "skjedde (integreringsforskriften § 58): registrer fortløpende.",
    "TILTAK_UTENFOR_DELTAKELSE": "Rett datoene på tiltak som ligger utenfor deltakelsen.",
    "UGYLDIG_FODSELSNUMMER": "Kontroller fødselsnummer eller D-nummer (feil kontrollsiffer).",
    "UKJENT_KOMMUNE": "Rett kommunenummeret: det var ikke gyldig på hendelsens dato.",
}

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Make a text field safe for spreadsheets: a leading formula character gets a ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def reference_year(settings: Settings, snapshot: date) -> int:
    """The reference year whose annual deadline is the next one on or after ``snapshot``."""
    if snapshot <= settings.annual_deadline(snapshot.year - 1):
        return snapshot.year - 1
    return snapshot.year


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def _open_private(path: Path, encoding: str) -> Any:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "w", encoding=encoding, newline="")


def _read(settings: Settings, snapshot: date) -> tuple[list[dict[str, Any]], list[str]]:
    from nir.warehouse import connect

    con = connect(settings, read_only=True)
    try:
        rows = con.execute(
            """select programkommune, nir_lopenr, deltakelse_id, kontroll, alvorlighet, detalj,
                      snapshot_date
               from marts.kontrolliste where snapshot_date = ?
               order by programkommune, kontroll, nir_lopenr, deltakelse_id""",
            [snapshot],
        ).fetchall()
        kommuner = {r[0] for r in rows}
        has_spells = con.execute(
            "select count(*) from duckdb_tables() "
            "where schema_name = 'marts' and table_name = 'fct_deltakelser'"
        ).fetchone()
        if has_spells and has_spells[0]:
            kommuner |= {
                r[0]
                for r in con.execute(
                    "select distinct programkommune from marts.fct_deltakelser "
                    "where snapshot_date = ? and programkommune is not null",
                    [snapshot],
                ).fetchall()
            }
    finally:
        con.close()
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows], sorted(kommuner)


def _write_database(settings: Settings, snapshot: date) -> Path:
    path = settings.kontroll_dir / "kontroll.duckdb"
    # attached as "k": the file's own catalog name ("kontroll") would clash with the schema
    con = duckdb.connect()
    try:
        con.execute(f"attach '{path}' as k")
        con.execute("use k")
        con.execute(f"attach '{settings.warehouse}' as wh (read_only)")
        con.execute("create schema if not exists kontroll")
        con.execute(
            """create table if not exists kontroll.kontrolliste (
                   programkommune varchar, nir_lopenr bigint, deltakelse_id bigint,
                   kontroll varchar, alvorlighet varchar, detalj varchar,
                   snapshot_date date not null)"""
        )
        con.execute("begin transaction")
        con.execute("delete from kontroll.kontrolliste where snapshot_date = ?", [snapshot])
        con.execute(
            f"""insert into kontroll.kontrolliste ({", ".join(COLUMNS)})
                select {", ".join(COLUMNS)} from wh.marts.kontrolliste
                where snapshot_date = ?""",
            [snapshot],
        )
        con.execute("commit")
        con.execute("detach wh")
        con.execute("use memory")
        con.execute("detach k")
    finally:
        con.close()
    for p in (path, Path(f"{path}.wal")):
        if p.exists():
            os.chmod(p, 0o600)
    return path


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with _open_private(path, "utf-8-sig") as f:
        w = csv.writer(f, delimiter=";", quotechar='"', lineterminator="\r\n")
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow(
                [
                    ""
                    if r[c] is None
                    else neutralise(r[c] if c != "snapshot_date" else r[c].strftime("%d.%m.%Y"))
                    for c in COLUMNS
                ]
            )


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("nir.kommune", "templates"),
        autoescape=True,  # every value is escaped, whatever the template's extension
        undefined=StrictUndefined,
    )


def write_control_lists(settings: Settings, snapshot: date) -> Path:
    """Write the restricted database and each kommune's CSV and HTML; returns their folder."""
    from nir.contracts import kommuner as kl
    from nir.warehouse import writer_lock

    with writer_lock(settings):  # no writer while the warehouse is read
        rows, kommuner = _read(settings, snapshot)
        _private_dir(settings.kontroll_dir)
        _write_database(settings, snapshot)

    lister = settings.kontroll_dir / "lister"
    _private_dir(lister)
    final = lister / snapshot.isoformat()
    tmp = lister / f".{snapshot.isoformat()}.tmp-{uuid.uuid4().hex[:8]}"
    _private_dir(tmp)
    year = reference_year(settings, snapshot)
    frist = settings.annual_deadline(year).strftime("%d.%m.%Y")
    template = _environment().get_template("kontrolliste.html.j2")
    names = kl.current().names
    try:
        for kommune in kommuner:
            own = [r for r in rows if r["programkommune"] == kommune]
            folder = tmp / kommune
            _private_dir(folder)
            stem = f"kontrolliste_{kommune}_{snapshot.isoformat()}"
            _write_csv(folder / f"{stem}.csv", own)
            grupper = []
            for kontroll in sorted({r["kontroll"] for r in own}):
                rader = [r for r in own if r["kontroll"] == kontroll]
                grupper.append(
                    {
                        "kontroll": kontroll,
                        "beskrivelse": BESKRIVELSER.get(kontroll, ""),
                        "errors": sum(r["alvorlighet"] == "error" for r in rader),
                        "warnings": sum(r["alvorlighet"] != "error" for r in rader),
                        "rader": rader,
                    }
                )
            html = template.render(
                kommune=kommune,
                kommune_navn=names.get(kommune, ""),
                snapshot=snapshot.strftime("%d.%m.%Y"),
                aar=year,
                frist=frist,
                grace=settings.registration_grace_months,
                grupper=grupper,
                total=len(own),
            )
            with _open_private(folder / f"{stem}.html", "utf-8") as f:
                f.write(html)
        old = None
        if final.exists():
            old = lister / f".{snapshot.isoformat()}.old-{uuid.uuid4().hex[:8]}"
            final.rename(old)
        tmp.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
