"""Write, audit, publish: the public statistics database and its final figures.

``publish(settings, snapshot)``

1. checks that ``snapshot`` passed its gate (runs the gate again when it has not run or did
   not pass), else raises :class:`nir.gate.GateFailed` and touches nothing;
2. freezes the final figures of every year whose annual deadline has passed (``freeze_final``);
3. *writes* a NEW database ``statistikk.duckdb.tmp-<id>`` next to the published one, schema
   ``statistikk`` with the six published tables: for each year the figures of the newest
   snapshot that passed its gate, or the frozen final figures; ``revisjoner`` compares each
   key figure's first published preliminary value with the final (or newest) one;
4. *audits* it with the publication suite (after suppression);
5. *publishes* it with ``os.replace`` over ``settings.published_db`` (atomic: a reader sees the
   old file or the new one), with Parquet copies in a new folder ``parquet-<id>/`` that the
   symlink ``parquet`` is switched to (also atomic);
6. records the publication (snapshot, time, sha256, row counts) in the warehouse
   (``publiseringsarkiv.publiseringslogg``), in ``publiseringslogg.jsonl`` and in
   ``statistikk.json`` beside the database (what ``nir status`` reads).

Frozen final figures live in the warehouse schema ``publiseringsarkiv`` (owned by this
module, never by dbt): ``endelige_aar(aar, snapshot_date, frosset_tid)`` and one table per
published table holding the frozen rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from nir import faults
from nir.config import Settings
from nir.errors import NirError
from nir.files import atomic_write_text
from nir.gate import PublicationRejected

log = logging.getLogger(__name__)

ARKIV = "publiseringsarkiv"
IDENTIFIER_COLUMNS = frozenset(
    {
        "fodselsnummer",
        "fnr",
        "fnr_pseudonym",
        "fnr_gyldig",
        "pseudonym",
        "nir_lopenr",
        "deltakelse_id",
        "tiltak_id",
        "vedtak_id",
    }
)
META_COLUMNS = ("snapshot_date", "status", "prikket")
# Shares are published as fractions in [0, 1] with three decimals (dbt: decimal(4,3)).
SHARE_MAX = 1.0


@dataclass(frozen=True)
class Tabell:
    """A published table: its grain and measures (the public interface)."""

    name: str
    grain: tuple[str, ...]
    counts: tuple[str, ...] = ()  # counts of persons: primary suppression applies
    share_of: tuple[tuple[str, str], ...] = ()  # (share, denominator)
    other: tuple[str, ...] = ()
    additive: tuple[str, ...] = ()  # attributed to one programkommune: kommuner add up
    # a measure that is the sum of other measures of the same row
    measure_parts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # (measure, count): the measure must be hidden whenever the count is
    hidden_with: tuple[tuple[str, str], ...] = ()
    year_sql: str | None = None  # the reference year of a row, as SQL
    marts: str | None = None  # the unsuppressed mart it is computed from

    @property
    def shares(self) -> dict[str, str]:
        return dict(self.share_of)

    @property
    def measures(self) -> tuple[str, ...]:
        return (*self.counts, *(s for s, _ in self.share_of), *self.other)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.grain, *self.measures, *META_COLUMNS)


_REG = ("nivaa", "region", "region_navn")
PUBLISHED_TABLES: dict[str, Tabell] = {
    t.name: t
    for t in (
        Tabell(
            "deltakelse_aar",
            ("aar", *_REG, "kjonn", "aldersgruppe"),
            counts=("deltakere", "nye_deltakere", "avsluttede"),
            additive=("avsluttede",),
            year_sql="aar",
            marts="fct_deltakelse_aar",
        ),
        Tabell(
            "resultater_aar",
            ("aar", *_REG, "kjonn", "landbakgrunn_gruppe"),
            counts=(
                "avsluttede",
                "direkte_overgang",
                "overgang_arbeid",
                "overgang_utdanning",
                "ikke_registrert",
            ),
            share_of=(("andel_direkte_overgang", "avsluttede"),),
            additive=(
                "avsluttede",
                "direkte_overgang",
                "overgang_arbeid",
                "overgang_utdanning",
                "ikke_registrert",
            ),
            measure_parts=(("direkte_overgang", ("overgang_arbeid", "overgang_utdanning")),),
            year_sql="aar",
            marts="fct_resultater_aar",
        ),
        Tabell(
            "tiltak_aar",
            ("aar", *_REG, "tiltakskode"),
            counts=("deltakere",),
            other=("timer",),
            hidden_with=(("timer", "deltakere"),),
            year_sql="aar",
            marts="fct_tiltak_aar",
        ),
        Tabell(
            "deltakelse_maaned",
            ("periode", *_REG),
            counts=("i_program", "startet", "avsluttet"),
            year_sql="cast(left(periode, 4) as integer)",
            marts="fct_deltakelse_maaned",
        ),
        Tabell(
            "registreringskvalitet",
            (*_REG, "kontroll"),
            counts=("kontrollert", "funn"),
            share_of=(("andel_uten_funn", "kontrollert"),),
            additive=("kontrollert", "funn"),
            marts="fct_registreringskvalitet",
        ),
        Tabell(
            "revisjoner",
            ("aar", *_REG, "maal"),
            other=("forste_verdi", "forste_snapshot", "endelig_verdi", "endring"),
        ),
    )
}
YEAR_TABLES = tuple(t for t in PUBLISHED_TABLES.values() if t.year_sql)

# Key figures whose revision from first preliminary to final value is published.
KEY_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("deltakelse_aar", "deltakere", "kjonn = 'alle' and aldersgruppe = 'alle'"),
    ("deltakelse_aar", "nye_deltakere", "kjonn = 'alle' and aldersgruppe = 'alle'"),
    ("deltakelse_aar", "avsluttede", "kjonn = 'alle' and aldersgruppe = 'alle'"),
    ("resultater_aar", "direkte_overgang", "kjonn = 'alle' and landbakgrunn_gruppe = 'alle'"),
)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _has(con: duckdb.DuckDBPyConnection, db: str, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from duckdb_tables() "
        "where database_name = ? and schema_name = ? and table_name = ?",
        [db, schema, table],
    ).fetchone()
    if row and row[0]:
        return True
    row = con.execute(
        "select count(*) from duckdb_views() "
        "where database_name = ? and schema_name = ? and view_name = ?",
        [db, schema, table],
    ).fetchone()
    return bool(row and row[0])


def _db(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("select current_database()").fetchone()
    return str(row[0]) if row else "memory"


# --- locking ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _publish_lock(settings: Settings) -> Iterator[None]:
    """One publisher at a time (the published folder's own lock)."""
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.published_dir / ".publish.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- the gate verdict ------------------------------------------------------------------------
def _ensure_gate(settings: Settings, snapshot: date) -> None:
    from nir.gate import read_gate_record, run_gate

    record = read_gate_record(settings, snapshot)
    if record is None or not record.get("passed"):
        run_gate(settings, snapshot)  # a fresh verdict; raises GateFailed


# --- final figures ---------------------------------------------------------------------------
def _ensure_archive(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {ARKIV}")
    con.execute(
        f"create table if not exists {ARKIV}.endelige_aar ("
        "aar integer primary key, snapshot_date date not null, frosset_tid timestamp not null)"
    )
    con.execute(
        f"create table if not exists {ARKIV}.publiseringslogg ("
        "publisert_tid timestamptz, snapshot_date date, fil varchar, sha256 varchar, "
        "rader varchar, kilder varchar)"
    )


def _freeze(settings: Settings, year: int) -> date:
    """Copy year ``year``'s figures from its final snapshot: the first monthly after the deadline.

    Exactly that snapshot, and only once it has passed its gate: a later snapshot never
    stands in for it, so the final figures do not depend on the order snapshots are processed.
    """
    from nir.gate import passed_snapshots
    from nir.periods import final_snapshot
    from nir.warehouse import connect

    snap = final_snapshot(year, settings.annual_deadline)
    con = connect(settings)
    try:
        _ensure_archive(con)
        row = con.execute(
            f"select snapshot_date from {ARKIV}.endelige_aar where aar = ?", [year]
        ).fetchone()
        if row:
            return row[0]  # frozen once, never again
        if snap not in set(passed_snapshots(settings)):
            raise NirError(
                f"cannot freeze {year}: its final snapshot {snap} (the first monthly one after "
                f"the deadline {settings.annual_deadline(year)}) has not passed its gate; load "
                "and publish it first"
            )
        con.execute("begin transaction")
        for t in YEAR_TABLES:
            if not _has(con, _db(con), "publisering", t.name):
                continue
            cols = ", ".join(_q(c) for c in t.columns)
            con.execute(
                f"create table if not exists {ARKIV}.{t.name} as "
                f"select {cols} from publisering.{t.name} limit 0"
            )
            sel = ", ".join("'endelig' as status" if c == "status" else _q(c) for c in t.columns)
            con.execute(
                f"insert into {ARKIV}.{t.name} ({cols}) select {sel} from publisering.{t.name} "
                f"where snapshot_date = ? and {t.year_sql} = ?",
                [snap, year],
            )
        con.execute(
            f"insert into {ARKIV}.endelige_aar values (?, ?, now()::timestamp)", [year, snap]
        )
        con.execute("commit")
        log.info("final figures for %s frozen from snapshot %s", year, snap)
        return snap
    finally:
        con.close()


def _auto_freeze(settings: Settings) -> list[int]:
    """Freeze every year not frozen yet whose final snapshot has passed its gate."""
    from nir.gate import frozen_years, passed_snapshots
    from nir.periods import final_snapshot
    from nir.warehouse import connect

    passed = passed_snapshots(settings)
    con = connect(settings, read_only=True)
    try:
        frozen = frozen_years(con)
        if not passed:
            return []
        years = [
            r[0]
            for r in con.execute(
                "select distinct aar from publisering.deltakelse_aar "
                "where snapshot_date in (select unnest(?::date[])) order by 1",
                [passed],
            ).fetchall()
        ]
    finally:
        con.close()
    done = []
    for y in years:
        if y in frozen or final_snapshot(int(y), settings.annual_deadline) not in passed:
            continue
        try:
            _freeze(settings, int(y))
            done.append(int(y))
        except NirError as exc:
            log.info("%s", exc)
    return done


def freeze_final(settings: Settings, year: int) -> date:
    """Freeze the final figures of ``year`` and republish; returns the snapshot they come from.

    Idempotent: once frozen, later snapshots never change them.
    """
    from nir.warehouse import writer_lock

    with _publish_lock(settings), writer_lock(settings):
        snap = _freeze(settings, year)
        _write_published(settings, None)
    return snap


# --- write, audit, publish --------------------------------------------------------------------
def publish(settings: Settings, snapshot: date) -> Path:
    """Write-audit-publish the statistics with ``snapshot``; returns the published database."""
    _ensure_gate(settings, snapshot)
    from nir.warehouse import writer_lock

    with _publish_lock(settings), writer_lock(settings):
        _auto_freeze(settings)
        try:
            return _write_published(settings, snapshot)
        except PublicationRejected as exc:
            _record_rejection(settings, snapshot, str(exc))
            raise
        except OSError as exc:  # disk full, permissions: one line, nothing published
            raise PublishError(
                f"could not write the publication in {settings.published_dir}: "
                f"{exc.strerror or exc}; a publication is replaced only as a whole, "
                "so readers see the old or the new figures: fix the cause and rerun"
            ) from exc


class PublishError(NirError):
    """The publication could not be written (disk full, permissions). Transient: retry."""

    exit_code = 5
    transient = True


def _record_rejection(settings: Settings, snapshot: date, message: str) -> None:
    """A snapshot whose statistics failed the audit does not count as passed any more."""
    from nir.gate import _write_json, gate_record_path, read_gate_record

    record = read_gate_record(settings, snapshot) or {"snapshot": snapshot.isoformat()}
    record.update(
        passed=False,
        message=message,
        hard_failures=[*record.get("hard_failures", []), message],
        audit_failed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    _write_json(gate_record_path(settings, snapshot), record)


def _build_tables(con: duckdb.DuckDBPyConnection, passed: list[date]) -> None:
    """Create schema ``statistikk`` from the attached warehouse ``wh``."""
    con.execute("create schema statistikk")
    con.execute("create temp table passed as select unnest(?::date[]) as snapshot_date", [passed])
    has_frozen = _has(con, "wh", ARKIV, "endelige_aar")
    frozen_sql = f"select aar from wh.{ARKIV}.endelige_aar" if has_frozen else "select -1"
    for t in YEAR_TABLES:
        cols = ", ".join(_q(c) for c in t.columns if c not in META_COLUMNS)
        if not _has(con, "wh", "publisering", t.name):
            raise NirError(f"cannot publish: the warehouse has no publisering.{t.name} (run dbt)")
        parts = [
            f"""
            with src as (
                select *, {t.year_sql} as _aar from wh.publisering.{t.name}
                where snapshot_date in (select snapshot_date from passed)
                  and {t.year_sql} not in ({frozen_sql})
            ), pick as (select _aar, max(snapshot_date) as _s from src group by _aar)
            select {cols}, snapshot_date, 'forelopig' as status, prikket
            from src join pick on src._aar = pick._aar and src.snapshot_date = pick._s
            """
        ]
        if _has(con, "wh", ARKIV, t.name):
            parts.append(
                f"select {cols}, snapshot_date, 'endelig' as status, prikket "
                f"from wh.{ARKIV}.{t.name}"
            )
        order = ", ".join(_q(c) for c in t.grain)
        con.execute(
            f"create table statistikk.{t.name} as "
            f"select * from ({' union all '.join(parts)}) order by {order}"
        )
    rk = PUBLISHED_TABLES["registreringskvalitet"]
    cols = ", ".join(_q(c) for c in rk.columns)
    con.execute(
        f"""create table statistikk.registreringskvalitet as
            select {cols} from wh.publisering.registreringskvalitet
            where snapshot_date = (
                select max(snapshot_date) from wh.publisering.registreringskvalitet
                where snapshot_date in (select snapshot_date from passed))
            order by {", ".join(_q(c) for c in rk.grain)}"""
    )
    _build_revisjoner(con)


def _build_revisjoner(con: duckdb.DuckDBPyConnection) -> None:
    """Each key figure's first preliminary value against its final (or newest) value.

    The first preliminary value of year Y is the one published from the first snapshot taken
    after Y ended (IMDi's January extract); figures published while Y was still running are
    partial-year counts, not preliminary figures for Y, so a year appears here once it has
    ended.
    """
    first, final = [], []
    for table, maal, where in KEY_FIGURES:
        first.append(
            f"""select aar, nivaa, region, '{maal}' as maal, {_q(maal)}::double as verdi,
                       snapshot_date
                from wh.publisering.{table}
                where {where} and snapshot_date in (select snapshot_date from passed)
                  and snapshot_date >= make_date(aar + 1, 1, 1)"""
        )
        final.append(
            f"""select aar, nivaa, region, region_navn, '{maal}' as maal,
                       {_q(maal)}::double as verdi, snapshot_date, status
                from statistikk.{table} where {where}"""
        )
    con.execute(
        f"""
        create table statistikk.revisjoner as
        with forste as (
            select * from ({" union all ".join(first)})
            qualify row_number() over (
                partition by aar, nivaa, region, maal order by snapshot_date) = 1
        ), endelig as ({" union all ".join(final)})
        select e.aar, e.nivaa, e.region, e.region_navn, e.maal,
               f.verdi as forste_verdi, f.snapshot_date as forste_snapshot,
               e.verdi as endelig_verdi, e.verdi - f.verdi as endring,
               e.snapshot_date, e.status,
               ((f.snapshot_date is not null and f.verdi is null) or e.verdi is null) as prikket
        from endelig e
        join forste f
          on f.aar = e.aar and f.nivaa = e.nivaa and f.region = e.region and f.maal = e.maal
        order by e.aar, e.nivaa, e.region, e.maal
        """
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _switch_symlink(link: Path, target_name: str) -> None:
    tmp = link.with_name(f"{link.name}.tmp-{uuid.uuid4().hex[:8]}")
    os.symlink(target_name, tmp)
    if link.exists() and not link.is_symlink():  # an old real folder: move it aside first
        link.rename(link.with_name(f"{link.name}-old-{uuid.uuid4().hex[:8]}"))
    os.replace(tmp, link)


def _cleanup(settings: Settings, keep: set[str]) -> None:
    pub = settings.published_dir
    for p in pub.glob("statistikk.duckdb.tmp-*"):
        p.unlink(missing_ok=True)
    dirs = sorted(
        (p for p in pub.glob("parquet-*") if p.is_dir() and p.name not in keep),
        key=lambda p: p.stat().st_mtime,
    )
    for p in dirs[:-1]:  # keep one older folder for readers still inside it
        shutil.rmtree(p, ignore_errors=True)


def _write_published(settings: Settings, snapshot: date | None) -> Path:
    """Build, audit and atomically publish the statistics database. Caller holds the locks."""
    from nir.gate import passed_snapshots, validate_publication

    passed = passed_snapshots(settings)
    if not passed:
        raise NirError("nothing to publish: no snapshot has passed its gate (run `nir gate`)")
    audit_snapshot = snapshot or passed[-1]
    pub = settings.published_dir
    pub.mkdir(parents=True, exist_ok=True)
    _cleanup(settings, keep=set())
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    tmp = pub / f"{settings.published_db.name}.tmp-{run_id}"
    parquet_dir = pub / f"parquet-{run_id}"
    try:
        # attached under a neutral name: a catalog called "statistikk" (the file's stem)
        # would make "statistikk.<table>" ambiguous with the schema
        con = duckdb.connect()
        try:
            con.execute(f"attach '{tmp}' as ny")
            con.execute("use ny")
            con.execute(f"attach '{settings.warehouse}' as wh (read_only)")
            _build_tables(con, passed)
            faults.point("publish:written")
            con.execute("detach wh")
            validate_publication(settings, con, audit_snapshot)  # raises PublicationRejected
            faults.point("publish:audited")
            rows = {
                t: con.execute(f"select count(*) from statistikk.{t}").fetchone()[0]
                for t in PUBLISHED_TABLES
            }
            sources = _sources(con)
            parquet_dir.mkdir()
            for t in PUBLISHED_TABLES:
                con.execute(
                    f"copy statistikk.{t} to '{parquet_dir / (t + '.parquet')}' (format parquet)"
                )
            con.execute("use memory")
            con.execute("detach ny")
        finally:
            con.close()
        os.chmod(tmp, 0o644)
        digest = _sha256(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        shutil.rmtree(parquet_dir, ignore_errors=True)
        raise
    # The publication: atomic. From here on the new figures are live, so nothing of them is
    # removed on a later error; a rerun writes the record and switches the Parquet link.
    os.replace(tmp, settings.published_db)
    faults.point("publish:replaced")
    _switch_symlink(pub / "parquet", parquet_dir.name)
    record = {
        "snapshot": audit_snapshot.isoformat(),
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "file": str(settings.published_db),
        "sha256": digest,
        "rows": rows,
        "sources": sources,
        "parquet": str(pub / "parquet"),
    }
    atomic_write_text(pub / "statistikk.json", json.dumps(record, indent=2, ensure_ascii=False))
    with (pub / "publiseringslogg.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    faults.point("publish:logged")
    _log_in_warehouse(settings, record)
    _cleanup(settings, keep={parquet_dir.name})
    return settings.published_db


def _sources(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, dict[str, str]]]:
    """For each year table and year: the snapshot its figures come from and their status."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for t in YEAR_TABLES:
        rows = con.execute(
            f"select distinct {t.year_sql} as y, snapshot_date, status "
            f"from statistikk.{t.name} order by 1"
        ).fetchall()
        out[t.name] = {str(y): {"snapshot": s.isoformat(), "status": st} for y, s, st in rows}
    return out


def _log_in_warehouse(settings: Settings, record: dict[str, Any]) -> None:
    from nir.warehouse import connect

    con = connect(settings)
    try:
        _ensure_archive(con)
        con.execute(
            f"insert into {ARKIV}.publiseringslogg values (?, ?, ?, ?, ?, ?)",
            [
                datetime.fromisoformat(record["published_at"]),
                date.fromisoformat(record["snapshot"]),
                record["file"],
                record["sha256"],
                json.dumps(record["rows"]),
                json.dumps(record["sources"]),
            ],
        )
    finally:
        con.close()
