"""Control lists and packs for the kommuner: what to fix in NIR before the deadline.

``write_control_lists(settings, snapshot)`` reads the snapshot's restricted marts and writes

- the restricted database ``<kontroll_dir>/kontroll.duckdb``, schema ``kontroll``: table
  ``kontrolliste`` (every snapshot's findings) and ``registreringskvalitet`` (every snapshot's
  completeness per region and control: the time series the tracker follows toward the
  deadline). A rerun replaces the snapshot's rows; snapshots built before this table existed
  are copied in from the warehouse on the next run;
- under ``<kontroll_dir>/lister/<snapshot>/``: ``index.html`` linking every kommune's pack
  (sortable, filterable) and, per kommune, the pack ``<kommune>/kommunepakke_<k>_<s>.html``
  with its CSV files (see :mod:`nir.kommune.packs`). A kommune's files hold only its own
  findings and its own (unsuppressed) figures.

Everything is owner-only (files 0600, folders 0700): the lists carry ``nir_lopenr``. The
snapshot's folder is written under a temporary name and renamed into place.

CSV files are written with the ``csv`` module: ``;``, UTF-8 with BOM, CRLF, formula injection
neutralised, decimal comma. The kommune is a text column with its name (``0301 Oslo``): a
bare ``0301`` becomes the number 301 when a spreadsheet opens the file, and a
formula-shaped cell (``="0301"``) is what formula neutralising exists to prevent.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from nir.config import Settings
from nir.kommune.output import private_dir

COLUMNS = (
    "programkommune",
    "nir_lopenr",
    "deltakelse_id",
    "kontroll",
    "alvorlighet",
    "detalj",
    "snapshot_date",
)
KVALITET_COLUMNS = (
    "snapshot_date",
    "nivaa",
    "region",
    "kontroll",
    "kontrollert",
    "funn",
    "andel_uten_funn",
)


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


@dataclass
class Lagerdata:
    """What one snapshot's lists and packs need, read while the writer lock is held."""

    rows: list[dict[str, Any]]
    kommuner: list[str]
    forrige: date | None = None  # the previous list's snapshot
    forrige_rows: list[dict[str, Any]] = field(default_factory=list)
    # kommune -> control -> [(snapshot, share)]
    kvalitet: dict[str, dict[str, list[tuple[date, float]]]] = field(default_factory=dict)
    tiltak: dict[str, list[tuple[str, int, float]]] = field(default_factory=dict)
    tiltak_snapshot: date | None = None
    resultater: dict[str, dict[str, int]] = field(default_factory=dict)
    resultater_snapshot: date | None = None


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
        if _has_table(con, "marts", "fct_deltakelser"):
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


def _read_figures(settings: Settings, snapshot: date, aar: int, data: Lagerdata) -> None:
    """The kommuner's own tiltak and results of ``aar`` (unsuppressed marts) from the newest
    snapshot up to ``snapshot`` that has them (a nightly build computes no figures)."""
    from nir.warehouse import connect

    con = connect(settings, read_only=True)
    try:
        if _has_table(con, "marts", "fct_tiltak_aar"):
            snap = con.execute(
                "select max(snapshot_date) from marts.fct_tiltak_aar "
                "where snapshot_date <= ? and aar = ?",
                [snapshot, aar],
            ).fetchone()[0]
            if snap is not None:
                data.tiltak_snapshot = snap
                for region, kode, deltakere, timer in con.execute(
                    """select region, tiltakskode, deltakere, cast(timer as double)
                       from marts.fct_tiltak_aar
                       where snapshot_date = ? and aar = ? and nivaa = 'kommune'
                       order by region, deltakere desc, tiltakskode""",
                    [snap, aar],
                ).fetchall():
                    data.tiltak.setdefault(region, []).append((kode, int(deltakere), timer))
        if _has_table(con, "marts", "fct_resultater_aar"):
            snap = con.execute(
                "select max(snapshot_date) from marts.fct_resultater_aar "
                "where snapshot_date <= ? and aar = ?",
                [snapshot, aar],
            ).fetchone()[0]
            if snap is not None:
                data.resultater_snapshot = snap
                cols = (
                    "avsluttede",
                    "direkte_overgang",
                    "overgang_arbeid",
                    "overgang_utdanning",
                    "ikke_registrert",
                )
                for region, *vals in con.execute(
                    f"""select region, {", ".join(cols)} from marts.fct_resultater_aar
                        where snapshot_date = ? and aar = ? and nivaa = 'kommune'
                          and kjonn = 'alle' and landbakgrunn_gruppe = 'alle'""",
                    [snap, aar],
                ).fetchall():
                    data.resultater[region] = dict(zip(cols, map(int, vals), strict=True))
    finally:
        con.close()


def _write_database(settings: Settings, snapshot: date, data: Lagerdata) -> Path:
    """Add ``snapshot``'s list and completeness figures to the restricted database, then read
    what the packs compare with from it (:func:`_read_history`): one open of the file."""
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
        con.execute(
            """create table if not exists kontroll.registreringskvalitet (
                   snapshot_date date not null, nivaa varchar not null,
                   region varchar not null, kontroll varchar not null,
                   kontrollert bigint, funn bigint, andel_uten_funn decimal(4, 3))"""
        )
        kvalitet = con.execute(
            "select count(*) from duckdb_tables() where database_name = 'wh' "
            "and schema_name = 'marts' and table_name = 'fct_registreringskvalitet'"
        ).fetchone()[0]
        con.execute("begin transaction")
        con.execute("delete from kontroll.kontrolliste where snapshot_date = ?", [snapshot])
        con.execute(
            f"""insert into kontroll.kontrolliste ({", ".join(COLUMNS)})
                select {", ".join(COLUMNS)} from wh.marts.kontrolliste
                where snapshot_date = ?""",
            [snapshot],
        )
        if kvalitet:
            cols = ", ".join(KVALITET_COLUMNS)
            con.execute(
                "delete from kontroll.registreringskvalitet where snapshot_date = ?", [snapshot]
            )
            # this snapshot, and any earlier one the series does not hold yet
            con.execute(
                f"""insert into kontroll.registreringskvalitet ({cols})
                    select {cols} from wh.marts.fct_registreringskvalitet
                    where snapshot_date = ?
                       or snapshot_date not in (
                           select distinct snapshot_date from kontroll.registreringskvalitet)""",
                [snapshot],
            )
        con.execute("commit")
        con.execute("detach wh")
        _read_history(con, settings, snapshot, data)
        con.execute("use memory")
        con.execute("detach k")
    finally:
        con.close()
    for p in (path, Path(f"{path}.wal")):
        if p.exists():
            os.chmod(p, 0o600)
    return path


def trend_start(settings: Settings, snapshot: date) -> date:
    """First snapshot date a pack's trend chart shows: the correction window's start when
    ``snapshot`` is in one, otherwise a year back."""
    from nir.kommune.tracker import aar_for_snapshot, vindu

    aar = aar_for_snapshot(settings, snapshot)
    return vindu(settings, aar)[0] if aar is not None else snapshot - timedelta(days=365)


def _read_history(
    con: duckdb.DuckDBPyConnection, settings: Settings, snapshot: date, data: Lagerdata
) -> None:
    """The previous list and the kommuner's completeness series from the restricted database
    (in use on ``con``)."""
    forrige = con.execute(
        "select max(snapshot_date) from kontroll.kontrolliste where snapshot_date < ?",
        [snapshot],
    ).fetchone()[0]
    if forrige is None:  # an empty list is also a list: look at the series too
        forrige = con.execute(
            "select max(snapshot_date) from kontroll.registreringskvalitet where snapshot_date < ?",
            [snapshot],
        ).fetchone()[0]
    data.forrige = forrige
    if forrige is not None:
        data.forrige_rows = [
            dict(zip(COLUMNS, r, strict=True))
            for r in con.execute(
                f"""select {", ".join(COLUMNS)} from kontroll.kontrolliste
                    where snapshot_date = ?
                    order by programkommune, kontroll, nir_lopenr, deltakelse_id""",
                [forrige],
            ).fetchall()
        ]
    for snap, region, kontroll, andel in con.execute(
        """select snapshot_date, region, kontroll, cast(andel_uten_funn as double)
           from kontroll.registreringskvalitet
           where nivaa = 'kommune' and snapshot_date between ? and ?
             and andel_uten_funn is not null and kontrollert > 0
           order by region, kontroll, snapshot_date""",
        [trend_start(settings, snapshot), snapshot],
    ).fetchall():
        data.kvalitet.setdefault(region, {}).setdefault(kontroll, []).append((snap, andel))


def write_control_lists(settings: Settings, snapshot: date) -> Path:
    """Write the restricted database, the index and each kommune's pack; returns their folder."""
    from nir.kommune import packs
    from nir.warehouse import held_open, writer_lock

    with writer_lock(settings):  # no writer while the warehouse is read
        with held_open(settings):  # one open for both reads
            rows, kommuner = _read(settings, snapshot)
            data = Lagerdata(rows, kommuner)
            _read_figures(settings, snapshot, packs.fjoraar(snapshot), data)
        private_dir(settings.kontroll_dir)
        _write_database(settings, snapshot, data)

    lister = settings.kontroll_dir / "lister"
    private_dir(lister)
    final = lister / snapshot.isoformat()
    tmp = lister / f".{snapshot.isoformat()}.tmp-{uuid.uuid4().hex[:8]}"
    private_dir(tmp)
    try:
        packs.write_packs(settings, snapshot, data, tmp)
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
