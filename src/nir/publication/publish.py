"""Write, audit, publish: the public statistics database.

``publish(settings, snapshot)``

1. builds the publishing layer in dbt (``models/publisering``): which snapshot each figure
   comes from, the frozen final years, ``revisjoner`` and the ``status`` column are decided
   there, from the gate's verdicts (``gate.resultater``); nothing in this module decides a
   figure;
2. checks that ``snapshot`` passed its gate (runs the gate when it never ran), else raises
   :class:`nir.gate.GateFailed` and touches nothing published;
3. applies disclosure control to everything published together
   (:mod:`nir.publication.disclosure`) and has the independent audit
   (:mod:`nir.publication.audit`) decide whether any hidden cell can be worked back out;
4. *writes* a NEW database ``nir.duckdb.tmp-<id>`` and *audits* it with the publication
   suite, which also carries the disclosure audit's verdict. The file explains itself: schema
   ``statistikk`` holds one table per declared published table (the warehouse model's column
   types, then ``prikket`` and one ``<measure>_status`` per measure: ``:`` hidden, ``..`` no
   figure, else ``forelopig``/``endelig``) and the declared label tables
   (``meta.etikett_tabell``), every table and column with its dbt description as a comment;
   views of the same names in ``main`` make ``from resultater_aar`` work however the file is
   opened or attached;
5. *publishes* it with ``os.replace`` over ``settings.published_db`` (atomic: a reader sees the
   old file or the new one), with Parquet copies (descriptions in the Arrow schema metadata)
   and JSON-stat 2.0 datasets in new folders ``parquet-<id>/``, ``jsonstat-<id>/`` that the
   symlinks ``parquet`` and ``jsonstat`` are switched to (also atomic);
6. records the publication (snapshot, time, sha256, row counts, disclosure figures) in
   ``statistikk.json`` beside the database (what ``nir status`` reads) and in
   ``publiseringslogg.jsonl``.
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
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from nir import faults
from nir.catalog import PublishedTable, load_catalog, load_label_tables
from nir.config import Settings
from nir.errors import NirError
from nir.files import atomic_write_text
from nir.gate import GateFailed, PublicationRejected

log = logging.getLogger(__name__)

DERIVED = ("parquet", "jsonstat")  # the copies in other formats: folders behind a symlink each


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
def _ensure_passed(settings: Settings, snapshot: date) -> None:
    """Raise GateFailed unless ``snapshot``'s newest gate verdict passed (run it if none)."""
    from nir.gate import run_gate, verdict
    from nir.warehouse.dbt import build_publishing

    judged = verdict(settings, snapshot)
    if judged is None:
        run_gate(settings, snapshot)  # raises GateFailed
        build_publishing(settings, snapshot)
        judged = verdict(settings, snapshot)
    if judged is None or not judged["passed"]:
        reasons = "; ".join((judged or {}).get("hard_failures", [])[:3]) or "no verdict"
        raise GateFailed(
            f"snapshot {snapshot} has not passed its gate ({reasons}): nothing was published; "
            "the published statistics are unchanged"
        )


def frozen_years(settings: Settings) -> dict[int, date]:
    """Years whose final figures are frozen: year -> the snapshot they come from."""
    from nir.warehouse import connect

    if not settings.warehouse.exists():
        return {}
    con = connect(settings, read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'publisering' and table_name = 'endelige_aar'"
        ).fetchone()
        if not exists or not exists[0]:
            return {}
        rows = con.execute("select aar, snapshot_date from publisering.endelige_aar").fetchall()
    finally:
        con.close()
    return {int(y): s for y, s in rows}


def freeze_final(settings: Settings, year: int) -> date:
    """Publish with the final figures of ``year``; returns the snapshot they are frozen from.

    Freezing itself happens in dbt (``publisering.endelige_aar``) as soon as the year's final
    snapshot has passed its gate; this republishes and says so when the year is not final yet.
    """
    from nir.gate import verdicts

    passed = [date.fromisoformat(v["snapshot"]) for v in verdicts(settings) if v["passed"]]
    if not passed:
        raise NirError(f"cannot freeze {year}: no snapshot has passed its gate yet")
    publish(settings, max(passed))
    frozen = frozen_years(settings)
    if year not in frozen:
        raise NirError(
            f"cannot freeze {year}: its final snapshot (the first monthly one after the "
            f"deadline {settings.annual_deadline(year)}) has not passed its gate; load and "
            "publish it first"
        )
    return frozen[year]


def revoke(settings: Settings, snapshot: date, reason: str) -> list[int]:
    """Take ``snapshot`` back: it no longer counts as passed, and years frozen from it thaw.

    Records a failed hard check ``tilbaketrukket`` for the snapshot in ``gate.resultater``
    (it counts until the gate runs again on corrected data) and removes the years frozen from
    it from ``publisering.endelige_aar`` and the archives. Returns those years. Then publish
    the previous snapshot (``docs/operations.md``). Final figures are meant never to change:
    this is a decision, not routine.
    """
    from nir.gate import Outcome, record_outcomes
    from nir.warehouse import connect, writer_lock

    catalog = load_catalog(settings)
    with _publish_lock(settings), writer_lock(settings):
        now = datetime.now(UTC)
        record_outcomes(
            settings,
            snapshot,
            "tilbaketrukket",
            [
                Outcome(
                    "tilbaketrukket",
                    "-",
                    "revoke",
                    "taken back by hand",
                    "hard",
                    False,
                    None,
                    "",
                    f": {reason[:200]}",
                )
            ],
            now,
        )
        con = connect(settings)
        try:
            years = [
                int(r[0])
                for r in con.execute(
                    "select aar from publisering.endelige_aar where snapshot_date = ?", [snapshot]
                ).fetchall()
            ]
            if years:
                con.execute("begin transaction")
                for t in catalog.values():
                    arkiv = f"arkiv_{t.name}"
                    exists = con.execute(
                        "select count(*) from information_schema.tables "
                        "where table_schema = 'publisering' and table_name = ?",
                        [arkiv],
                    ).fetchone()
                    if t.aar and exists and exists[0]:
                        con.execute(
                            f"delete from publisering.{arkiv} "
                            f"where {t.aar} in (select unnest(?::integer[]))",
                            [years],
                        )
                con.execute(
                    "delete from publisering.endelige_aar where snapshot_date = ?", [snapshot]
                )
                con.execute("commit")
        finally:
            con.close()
    return years


# --- write, audit, publish --------------------------------------------------------------------
def publish(settings: Settings, snapshot: date) -> Path:
    """Write-audit-publish the statistics with ``snapshot``; returns the published database."""
    from nir.warehouse import held_open, writer_lock
    from nir.warehouse.dbt import build_publishing

    with _publish_lock(settings):
        if _disclosure_processes(settings) > 1:
            # its imports (~1.5 s) on the other core while dbt builds the publishing layer
            from nir.publication.years import fork_server

            fork_server()
        build_publishing(settings, snapshot)
        _ensure_passed(settings, snapshot)  # may run the gate and dbt: before the lock
        # the rest reads, checks and records in the warehouse: one open of the file for all
        with writer_lock(settings), held_open(settings):
            try:
                return _write_published(settings, snapshot)
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


SCHEMA = "statistikk"  # the published tables' schema (spec/statistics.md)
HIDDEN, NO_FIGURE = ":", ".."  # a blank cell's status: hidden by disclosure control, no figure
PRIKKET_DOC = (
    "True when at least one figure of the row is hidden by disclosure control; the "
    "<measure>_status columns say which."
)
STATUS_DOC = (
    "Status of {m}: ':' hidden by disclosure control, '..' no figure (nothing to count), "
    "'forelopig' preliminary or 'endelig' final (the row's status)."
)


def _read_frames(
    settings: Settings, names: list[str], order: dict[str, tuple[str, ...]]
) -> tuple[dict[str, pd.DataFrame], dict[str, list[tuple[str, str]]]]:
    """The publishing layer's tables ``names`` (before disclosure control) and their column
    types; a table in ``order`` is read sorted by those columns."""
    from nir.warehouse import connect

    con = connect(settings, read_only=True)
    try:
        frames, types = {}, {}
        for name in names:
            cols = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'publisering' and table_name = ? order by ordinal_position",
                [name],
            ).fetchall()
            if not cols:
                raise NirError(
                    f"cannot publish: the warehouse has no publisering.{name}: run "
                    "`nir build` for a snapshot that has passed its gate, then publish"
                )
            by = f" order by {', '.join(_q(c) for c in order[name])}" if order.get(name) else ""
            frames[name] = con.execute(f"select * from publisering.{_q(name)}{by}").df()
            types[name] = [(c, ty) for c, ty in cols]
    finally:
        con.close()
    return frames, types


def read_figures(settings: Settings, catalog: dict[str, PublishedTable]) -> dict[str, pd.DataFrame]:
    """The published tables' figures before disclosure control (the publishing layer)."""
    return _read_frames(settings, list(catalog), {t.name: t.rad for t in catalog.values()})[0]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def with_status(t: PublishedTable, protected: pd.DataFrame, original: pd.DataFrame) -> pd.DataFrame:
    """``protected`` (with ``prikket``) plus one ``<measure>_status`` per measure: ``:`` where
    the figure is blank in a row with a hidden cell, ``..`` where it is blank in a row without
    one (there was no figure: a share of 0), else the row's ``status``.

    A blank figure in a row with a hidden cell is always ``:``, even when there was no figure:
    ``..`` next to a hidden count would tell that the count was 0 (its share is 0/0).
    """
    out = protected.copy()
    hidden_row = out["prikket"].to_numpy(dtype=bool)
    for m in t.measures:
        if m not in out.columns:
            continue
        blank = out[m].isna().to_numpy()
        none = original[m].isna().to_numpy() & ~hidden_row
        out[f"{m}_status"] = np.where(
            blank, np.where(none, NO_FIGURE, HIDDEN), out["status"].to_numpy(dtype=object)
        )
    return out


def _write_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    frame: pd.DataFrame,
    cols: list[tuple[str, str]],
    description: str,
    docs: dict[str, str],
) -> None:
    """``statistikk.<name>`` with the columns ``cols`` (name, type) of ``frame``, its comments,
    and the view ``main.<name>`` (so ``from <name>`` works however the file is opened)."""
    con.execute(
        f"create table {SCHEMA}.{_q(name)} (" + ", ".join(f"{_q(c)} {ty}" for c, ty in cols) + ")"
    )
    con.register("_ny", frame[[c for c, _ in cols]])
    try:
        select = ", ".join(f"cast({_q(c)} as {ty})" for c, ty in cols)
        con.execute(f"insert into {SCHEMA}.{_q(name)} select {select} from _ny")
    finally:
        con.unregister("_ny")
    # the comments and the view as one script (one call, not one per column)
    con.execute(
        ";\n".join(
            [
                f"comment on table {SCHEMA}.{_q(name)} is {_lit(description)}",
                *(
                    f"comment on column {SCHEMA}.{_q(name)}.{_q(c)} is {_lit(docs[c])}"
                    for c, _ in cols
                ),
                f"create view main.{_q(name)} as select * from {SCHEMA}.{_q(name)}",
                f"comment on view main.{_q(name)} is {_lit(description)}",
            ]
        )
    )


def _docs(t: PublishedTable) -> dict[str, str]:
    """Every published column's description: the model's yml, the flag, the statuses."""
    docs = {c: t.column_docs.get(c) or "" for c in t.columns}
    docs["prikket"] = PRIKKET_DOC
    docs.update({f"{m}_status": STATUS_DOC.format(m=m) for m in t.measures})
    return docs


def _write_parquet(
    con: duckdb.DuckDBPyConnection, name: str, path: Path, meta: dict[str, str]
) -> None:
    """``statistikk.<name>`` as Parquet with the table's and each column's description in
    the Arrow schema's metadata (what pandas, Arrow and Spark readers see)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    docs = dict(
        con.execute(
            "select column_name, comment from duckdb_columns() "
            "where schema_name = ? and table_name = ?",
            [SCHEMA, name],
        ).fetchall()
    )
    table = con.sql(f"select * from {SCHEMA}.{_q(name)}").to_arrow_table()
    schema = pa.schema(
        [f.with_metadata({"description": docs.get(f.name) or ""}) for f in table.schema],
        metadata=meta,
    )
    pq.write_table(pa.Table.from_arrays(table.columns, schema=schema), path)


def _disclosure_processes(settings: Settings) -> int:
    from nir.publication.years import cores

    return settings.disclosure_processes or cores()


def _write_published(settings: Settings, snapshot: date) -> Path:
    """Protect, write, audit and atomically publish. Caller holds the locks."""
    from nir.gate import validate_publication
    from nir.publication.jsonstat import write_jsonstat
    from nir.publication.suppression import ComponentCache
    from nir.publication.years import YearCache, decide_years

    catalog = load_catalog(settings)
    labels = load_label_tables(settings)
    frames, types = _read_frames(
        settings, [*catalog, *labels], {t.name: t.rad for t in catalog.values()}
    )
    figures = {t: frames[t] for t in catalog}
    components = ComponentCache(settings.suppression_cache)
    years = YearCache(settings.disclosure_cache)

    def rejected(exc: ValueError) -> PublicationRejected:
        return PublicationRejected(
            f"publication audit failed for {snapshot}: {str(exc)[:300]}; fix the declaration "
            "(meta.publisert) or the model, then publish again"
        )

    pub = settings.published_dir
    pub.mkdir(parents=True, exist_ok=True)
    _cleanup(settings, keep=set())
    published_at = datetime.now(UTC).isoformat(timespec="seconds")
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    tmp = pub / f"{settings.published_db.name}.tmp-{run_id}"
    folders = {kind: pub / f"{kind}-{run_id}" for kind in DERIVED}
    try:
        decided = decide_years(
            figures,
            catalog,
            threshold=int(settings.suppression_threshold),
            min_share_denominator=int(settings.min_share_denominator),
            years=years,
            components=components,
            processes=_disclosure_processes(settings),
        )
    except ValueError as exc:  # a declared relation the figures break: nothing is published
        raise rejected(exc) from exc
    protected = decided.protected

    def audited() -> pd.DataFrame:
        """The audit's findings, waited for when the publication suite reaches them."""
        try:
            return decided.audit().frame()
        except ValueError as exc:
            raise rejected(exc) from exc

    try:
        components.save()
        log.info(
            "disclosure control: years %s kept from the last publication, %s decided and "
            "audited (%d components read, %d solved; the audit runs while the tables and "
            "their copies are written and checked)",
            years.hits or "none",
            years.misses or "none",
            components.hits,
            components.misses,
        )
        con = duckdb.connect()
        try:
            con.execute(f"attach {_lit(str(tmp))} as ny")
            con.execute("use ny")
            con.execute(f"create schema {SCHEMA}")
            # every table, its comments and view in one transaction: committed one statement
            # at a time (a comment is one), the file's log is written ~150 times at demo
            # scale, and the tables take twice as long
            con.begin()
            for t in catalog.values():
                cols = [*types[t.name], ("prikket", "BOOLEAN")]
                cols += [(s, "VARCHAR") for s in t.status_columns]
                frame = with_status(t, protected.frames[t.name], figures[t.name])
                _write_table(con, t.name, frame, cols, t.description, _docs(t))
            for lt in labels.values():
                _write_table(
                    con, lt.name, frames[lt.name], types[lt.name], lt.description, lt.column_docs
                )
            con.commit()
            faults.point("publish:written")
            # the copies in other formats while the audit may still run (unpublished until
            # the links switch; removed below if the suite rejects the tables)
            for folder in folders.values():
                folder.mkdir()
            for t in (*catalog.values(), *labels.values()):
                meta = {"description": t.description, "snapshot": snapshot.isoformat()}
                _write_parquet(con, t.name, folders["parquet"] / f"{t.name}.parquet", meta)
            write_jsonstat(
                con, catalog, folders["jsonstat"], snapshot=snapshot, published_at=published_at
            )
            validate_publication(settings, con, snapshot, catalog, audited)
            years.save()  # every decided year audited by now
            faults.point("publish:audited")
            rows = {
                t: con.execute(f"select count(*) from {SCHEMA}.{t}").fetchone()[0] for t in catalog
            }
            sources = _sources(con, catalog)
            con.execute("use memory")
            con.execute("detach ny")
        finally:
            con.close()
        os.chmod(tmp, 0o644)
        digest = _sha256(tmp)
    except BaseException as exc:
        decided.close()
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, PublicationRejected):
            # if what was kept went wrong, the next run decides everything afresh
            settings.suppression_cache.unlink(missing_ok=True)
            settings.disclosure_cache.unlink(missing_ok=True)
        raise
    # The publication: atomic. From here on the new figures are live, so nothing of them is
    # removed on a later error; a rerun writes the record and switches the links.
    os.replace(tmp, settings.published_db)
    faults.point("publish:replaced")
    for kind, folder in folders.items():
        _switch_symlink(pub / kind, folder.name)
    record = {
        "snapshot": snapshot.isoformat(),
        "published_at": published_at,
        "file": settings.published_db.name,
        "sha256": digest,
        "rows": rows,
        "sources": sources,
        **{kind: kind for kind in DERIVED},
        "disclosure": {
            "cells": protected.cells,
            "primary": protected.primary,
            "secondary": protected.secondary,
            "hidden_by_rule": protected.hidden_by_rule,
            **decided.audit().summary(),
        },
    }
    atomic_write_text(settings.published_record, json.dumps(record, indent=2, ensure_ascii=False))
    with (pub / "publiseringslogg.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    faults.point("publish:logged")
    _cleanup(settings, keep={f.name for f in folders.values()})
    return settings.published_db


def _sources(
    con: duckdb.DuckDBPyConnection, catalog: dict[str, PublishedTable]
) -> dict[str, dict[str, dict[str, str]]]:
    """For each table with a reference year: the snapshot and status of each year's figures."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for t in catalog.values():
        if not t.aar or t.revisjon:
            continue
        rows = con.execute(
            f"select distinct {t.aar} as y, snapshot_date, status "
            f"from statistikk.{t.name} order by 1, 2"
        ).fetchall()
        out[t.name] = {str(y): {"snapshot": s.isoformat(), "status": st} for y, s, st in rows}
    return out


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
    for p in pub.glob(f"{settings.published_db.name}.tmp-*"):
        p.unlink(missing_ok=True)
    for kind in DERIVED:
        dirs = sorted(
            (p for p in pub.glob(f"{kind}-*") if p.is_dir() and p.name not in keep),
            key=lambda p: p.stat().st_mtime,
        )
        for p in dirs[:-1]:  # keep one older folder for readers still inside it
            shutil.rmtree(p, ignore_errors=True)
