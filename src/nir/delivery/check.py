"""Check a delivery against its manifest and the export contract.

Every check reads the delivery as it is on disk and touches nothing else: a delivery that
fails is never half-loaded. Problems name the file, the line and column, what is wrong and
what to do, and never echo a fødselsnummer.

Parsing uses pyarrow's CSV reader (multi-threaded, C++) into Arrow tables of strings; the
value checks are then vectorised SQL over those tables in an in-memory DuckDB. The parsed
tables are handed to the loader, so a delivery is read once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from nir.config import Settings, load_settings
from nir.contracts import nir_export as spec
from nir.contracts.nir_export import ColType, FileSpec
from nir.errors import one_line, shown_value

CODEC = {"utf-8": "utf-8-sig", "windows-1252": "cp1252"}
_MAX_EXAMPLES = 3


@dataclass(frozen=True)
class Problem:
    """One contract violation, printable as one actionable line."""

    file: str
    message: str
    line: int | None = None
    column: str | None = None
    hint: str = ""
    rows: int = 1  # how many rows share this problem

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.column:
            where += f", column {self.column}"
        more = f" ({self.rows - 1} more row(s) like it)" if self.rows > 1 else ""
        hint = f"; {self.hint}" if self.hint else ""
        return one_line(f"{where}: {self.message}{more}{hint}", 600)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
            "rows": self.rows,
        }


@dataclass
class Manifest:
    contract_version: str
    kind: str
    snapshot_date: date
    extracted_at: datetime
    encoding: str
    files: dict[str, dict[str, Any]]


@dataclass
class CheckedDelivery:
    """A delivery that passed every check: its manifest and parsed tables (all strings)."""

    path: Path
    manifest: Manifest
    tables: dict[str, pa.Table] = field(default_factory=dict)  # by raw table name

    @property
    def fingerprint(self) -> str:
        """Identity of the delivery's content: the manifest's hashes, in a stable order."""
        h = hashlib.sha256()
        for name in sorted(self.manifest.files):
            h.update(f"{name}:{self.manifest.files[name]['sha256']};".encode())
        h.update(f"{self.manifest.kind};{self.manifest.snapshot_date}".encode())
        return h.hexdigest()


class _Stop(Exception):
    """Internal: stop checking this delivery; the problems so far say why."""


def delivery_complete(path: Path) -> bool:
    """A delivery is complete once its manifest exists (the export writes it last)."""
    return (path / spec.MANIFEST).is_file()


def check_delivery(path: Path, settings: Settings | None = None) -> list[Problem]:
    """All contract problems of the delivery at ``path``; an empty list means it is fine."""
    try:
        parse_delivery(path, settings)
    except DeliveryRejected as exc:
        return exc.problems
    return []


class DeliveryRejected(Exception):
    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: {problems[0]}")


@functools.cache
def checks_version() -> str:
    """The source of the code that decides whether a delivery keeps the contract."""
    h = hashlib.sha256()
    for module in (__file__, spec.__file__):
        h.update(Path(module).read_bytes())
    return h.hexdigest()


def verdict_key(delivery: CheckedDelivery) -> str:
    """What a passed value check holds for: these bytes (the manifest's sha256 of every file,
    which reading each file verifies) under this version of the checks."""
    return hashlib.sha256(f"{delivery.fingerprint};{checks_version()}".encode()).hexdigest()


def parse_delivery(
    path: Path,
    settings: Settings | None = None,
    *,
    values_passed: Callable[[str], bool] | None = None,
) -> CheckedDelivery:
    """Check the delivery and return its parsed tables, or raise :class:`DeliveryRejected`.

    This is the boundary for bad input: whatever the bytes, a delivery either passes or is
    rejected with problems; nothing read from it escapes as an exception.

    ``values_passed(verdict_key)`` tells whether the same bytes already passed the value
    checks (the run's ``check_contract``); then they are not run again. Everything else (the
    manifest, each file's size, encoding, sha256, header, dialect and row count) is checked
    on every read, so the bytes parsed are the bytes that passed.
    """
    settings = settings or load_settings()
    path = Path(path).resolve()
    problems: list[Problem] = []
    current = spec.MANIFEST
    delivery: CheckedDelivery | None = None
    try:
        manifest = _read_manifest(path, problems, settings)
        delivery = CheckedDelivery(path, manifest)
        for fspec in spec.FILES:
            current = fspec.name
            table = _read_file(path, fspec, manifest, settings, problems)
            if table is not None:
                delivery.tables[fspec.table] = table
        current = "delivery"
        if not problems and not (values_passed and values_passed(verdict_key(delivery))):
            _check_values(delivery, problems)
    except _Stop:
        pass
    except Exception as exc:  # the boundary: never a traceback, never the bytes themselves
        problems.append(
            Problem(
                current,
                f"cannot be read ({type(exc).__name__})",
                hint="the file is malformed; re-export it and deliver again",
            )
        )
    if problems or delivery is None:
        raise DeliveryRejected(path, problems or [Problem("delivery", "cannot be read")])
    return delivery


# --- manifest -------------------------------------------------------------------------------
def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > 18:
        raise ValueError("integer too long")
    return int(text)


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, stopping once past ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            break
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def _read_manifest(path: Path, problems: list[Problem], settings: Settings) -> Manifest:
    mf = path / spec.MANIFEST
    if not path.is_dir():
        problems.append(Problem(str(path), "delivery folder does not exist"))
        raise _Stop
    if mf.is_symlink() or (mf.exists() and not mf.is_file()):
        problems.append(Problem(spec.MANIFEST, "is not a regular file (symlinks are not accepted)"))
        raise _Stop
    if not mf.is_file():
        problems.append(
            Problem(
                spec.MANIFEST,
                "missing: the delivery is incomplete or still being written",
                hint="wait for the export to finish, or ask for the delivery again",
            )
        )
        raise _Stop
    size = mf.stat().st_size
    if size > settings.max_manifest_bytes:
        problems.append(
            Problem(
                spec.MANIFEST,
                f"is {size} bytes, over the limit of {settings.max_manifest_bytes}",
                hint="a manifest lists four files; fix the export",
            )
        )
        raise _Stop
    try:
        doc = json.loads(
            mf.read_bytes().decode("utf-8-sig"),
            parse_int=_json_int,
            parse_constant=_json_constant,
        )
    except json.JSONDecodeError as exc:
        problems.append(
            Problem(
                spec.MANIFEST,
                f"not valid JSON ({one_line(exc.msg, 80)} at line {exc.lineno} column {exc.colno})",
                hint="fix the export",
            )
        )
        raise _Stop from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        what = {
            "UnicodeDecodeError": "not UTF-8",
            "RecursionError": "nested too deeply",
        }.get(type(exc).__name__, "not valid JSON (a number over 18 digits, NaN or Infinity)")
        problems.append(Problem(spec.MANIFEST, what, hint="fix the export"))
        raise _Stop from None
    if _depth(doc, settings.max_manifest_depth) > settings.max_manifest_depth:
        problems.append(
            Problem(
                spec.MANIFEST,
                f"is nested deeper than {settings.max_manifest_depth} levels",
                hint="fix the export",
            )
        )
        raise _Stop
    if not isinstance(doc, dict):
        problems.append(Problem(spec.MANIFEST, "must be a JSON object"))
        raise _Stop

    def need(key: str, check: Any, expected: str) -> Any:
        value = doc.get(key)
        try:
            ok = check(value)
        except (TypeError, ValueError):
            ok = None
        if ok in (None, False):
            problems.append(
                Problem(
                    spec.MANIFEST,
                    f"field {key!r} is {_shown_json(value)}, expected {expected}",
                )
            )
        return ok

    version = need("contract_version", lambda v: v == spec.CONTRACT_VERSION and v, '"1"')
    kind = need("kind", lambda v: v in spec.DELIVERY_KINDS and v, "'monthly' or 'daily'")
    snap = need("snapshot_date", date.fromisoformat, "a date YYYY-MM-DD")
    extracted = need("extracted_at", datetime.fromisoformat, "an ISO timestamp")
    encoding = need("encoding", lambda v: v in spec.ENCODINGS and v, "'utf-8' or 'windows-1252'")
    files = need(
        "files",
        lambda v: (
            isinstance(v, dict)
            and all(
                isinstance(e, dict)
                and isinstance(e.get("rows"), int)
                and not isinstance(e.get("rows"), bool)
                and e["rows"] >= 0
                and isinstance(e.get("sha256"), str)
                and re.fullmatch(r"[0-9a-fA-F]{64}", e["sha256"])
                for e in v.values()
            )
            and v
        ),
        'an object {"<file>.csv": {"rows": <int>, "sha256": "<64 hex>"}}',
    )
    if problems:
        raise _Stop
    if snap.isoformat() != path.name:
        problems.append(
            Problem(
                spec.MANIFEST,
                f"snapshot_date {snap} does not match the folder name {shown_value(path.name)}",
                hint="deliveries live in <landing>/<snapshot_date>/",
            )
        )
    if kind == "monthly" and snap.day != 1:
        problems.append(
            Problem(spec.MANIFEST, f"a monthly delivery must be dated the 1st, not {snap}")
        )
    unknown = sorted(set(files) - set(spec.FILES_BY_NAME))
    if unknown:
        problems.append(
            Problem(
                spec.MANIFEST,
                "lists files that are not in the contract: "
                + ", ".join(shown_value(u) for u in unknown[:3])
                + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""),
                hint=f"expected exactly {', '.join(spec.FILES_BY_NAME)}",
            )
        )
    for name in spec.FILES_BY_NAME:
        if name not in files:
            problems.append(Problem(spec.MANIFEST, f"does not list {name}"))
    if problems:
        raise _Stop
    return Manifest(version, kind, snap, extracted, encoding, files)


def _shown_json(value: Any) -> str:
    """A manifest value in a message: its JSON type when it is a container, else bounded."""
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    if isinstance(value, str):
        return shown_value(value)
    return shown_value(json.dumps(value))


# --- one file --------------------------------------------------------------------------------
def _read_file(
    path: Path, fspec: FileSpec, manifest: Manifest, settings: Settings, problems: list[Problem]
) -> pa.Table | None:
    name = fspec.name
    fpath = path / name
    if fpath.is_symlink() or (fpath.exists() and not fpath.is_file()):
        problems.append(Problem(name, "is not a regular file (symlinks are not accepted)"))
        return None
    if not fpath.exists():
        problems.append(
            Problem(name, "missing from the delivery", hint="ask for a complete delivery")
        )
        return None
    size = fpath.stat().st_size
    if size > settings.max_file_bytes:
        problems.append(
            Problem(
                name,
                f"is {size} bytes, over the limit of {settings.max_file_bytes}",
                hint="raise NIR_MAX_FILE_BYTES if the file is genuine",
            )
        )
        return None
    data = fpath.read_bytes()
    expected = manifest.files[name]

    # Decode with the declared encoding: a wrong encoding is found here, with its line.
    try:
        text = data.decode(CODEC[manifest.encoding])
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.append(
            Problem(
                name,
                f"byte 0x{data[exc.start]:02x} is not valid {manifest.encoding}",
                line=line,
                hint="the file's encoding differs from the manifest's 'encoding'; "
                "re-export it or correct the manifest",
            )
        )
        return None
    if data.startswith(b"\xef\xbb\xbf") and manifest.encoding != "utf-8":
        problems.append(
            Problem(
                name,
                f"starts with a UTF-8 byte-order mark but is declared {manifest.encoding}",
                line=1,
            )
        )
        return None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        problems.append(Problem(name, "contains a NUL byte", line=line, hint="re-export the file"))
        return None

    # Line ends: LF or CRLF. A CR alone (old Mac line ends, a stray CR) is refused here,
    # with its line, rather than half-understood by a CSV reader.
    lone_cr = _LONE_CR.search(text)
    if lone_cr:
        problems.append(
            Problem(
                name,
                "contains a carriage return (CR) that does not end a line (CR LF): line "
                "ends must be LF or CRLF",
                line=text.count("\n", 0, lone_cr.start()) + 1,
                hint="re-export the file with LF or CRLF line ends",
            )
        )
        return None

    # Header: exact names in the exact order.
    first_end = text.find("\n")
    header_line = (text if first_end < 0 else text[:first_end]).removesuffix("\r")
    header = _split_header(header_line)
    if header != fspec.header:
        missing = [c for c in fspec.header if c not in header]
        extra = [c for c in header if c not in fspec.header]
        detail = []
        if missing:
            detail.append(f"missing {', '.join(missing)}")
        if extra:
            shown = ", ".join(shown_value(c, file=None, limit=30) for c in extra[:3])
            more = f" and {len(extra) - 3} more" if len(extra) > 3 else ""
            detail.append(f"unexpected {shown}{more}")
        if not detail:
            detail.append("columns in the wrong order")
        problems.append(
            Problem(
                name,
                f"header does not match the contract ({'; '.join(detail)})",
                line=1,
                hint=f"expected {spec.DELIMITER.join(fspec.header)}",
            )
        )
        return None

    # Truncation: a non-empty file must end with a line end.
    if text and not text.endswith("\n"):
        last_line = text.count("\n") + 1
        problems.append(
            Problem(
                name,
                "ends without a line end: the file is truncated or still being written",
                line=last_line,
                hint="ask for the delivery again",
            )
        )
        return None

    # Parse. Field counts, quoting and field length are checked by the reader.
    utf8 = (
        text.encode("utf-8")
        if manifest.encoding != "utf-8" or data[:3] == b"\xef\xbb\xbf"
        else data
    )
    table = _parse_csv(name, fspec, utf8, settings, problems)
    if table is None:
        return None

    # Against the manifest.
    if table.num_rows != expected["rows"]:
        problems.append(
            Problem(
                name,
                f"has {table.num_rows} data rows, the manifest says {expected['rows']}",
                hint="the file is incomplete or the manifest is stale; ask for the delivery again",
            )
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected["sha256"].lower():
        problems.append(
            Problem(
                name,
                f"sha256 is {digest[:8]}…, the manifest says {expected['sha256'][:8]}…",
                hint="the file changed after the manifest was written; ask for the delivery again",
            )
        )
    return table


_LONE_CR = re.compile(r"\r(?!\n)")


def _split_header(line: str) -> list[str]:
    """The header's names; quoting as in the data (a quoted name is unquoted)."""
    names = []
    for field_ in line.split(spec.DELIMITER):
        if len(field_) >= 2 and field_[0] == field_[-1] == spec.QUOTECHAR:
            field_ = field_[1:-1].replace(spec.QUOTECHAR * 2, spec.QUOTECHAR)
        names.append(field_)
    return names


def _parse_csv(
    name: str, fspec: FileSpec, data: bytes, settings: Settings, problems: list[Problem]
) -> pa.Table | None:
    def read(use_threads: bool, handler: Any) -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(use_threads=use_threads, block_size=8 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=spec.DELIMITER,
                quote_char=spec.QUOTECHAR,
                double_quote=True,
                newlines_in_values=False,
                invalid_row_handler=handler,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in fspec.header},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
                check_utf8=True,
            ),
        )

    bad: list[tuple[int | None, int, int]] = []

    def handler(row: Any) -> str:
        bad.append((row.number, row.expected_columns, row.actual_columns))
        return "skip"

    try:
        table = read(True, handler)
        if bad:  # read again on one thread: only then does pyarrow know line numbers
            bad.clear()
            read(False, handler)
    except pa.ArrowInvalid as exc:
        # pyarrow's message quotes the offending row: keep only what it says, never the row
        known = re.search(r"Expected \d+ columns, got \d+", str(exc))
        msg = known.group() if known else "malformed quoting or line ends"
        problems.append(Problem(name, f"cannot be parsed as CSV ({msg})", hint="re-export it"))
        return None
    if bad:
        line, want, got = bad[0]
        problems.append(
            Problem(
                name,
                f"has {got} fields, the contract has {want}",
                line=line,
                rows=len(bad),
                hint="check the separator ';' and the quoting of fields containing ';' or '\"'",
            )
        )
        return None
    # Long fields: bounded so that a hostile file cannot blow up later steps.
    for col in fspec.header:
        lengths = pc.utf8_length(table[col])
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > settings.max_field_chars:
            idx = pc.index(lengths, longest).as_py()
            problems.append(
                Problem(
                    name,
                    f"field is {longest} characters long, over the limit of "
                    f"{settings.max_field_chars}",
                    line=idx + 2,
                    column=col,
                )
            )
            return None
    return table


# --- values ----------------------------------------------------------------------------------
_INT = r"-?[0-9]{1,18}"
_DATE = r"[0-9]{2}\.[0-9]{2}\.[0-9]{4}"
_TS = r"[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}"


def _sql_quote(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _invalid_predicate(col: spec.Column) -> tuple[str, str]:
    """SQL that is true for an invalid, non-null value of ``col``; and what was expected."""
    c = f'"{col.name}"'
    t = col.type
    if t is ColType.INTEGER:
        return f"not regexp_full_match({c}, '{_INT}')", "an integer"
    if t is ColType.DATE:
        return (
            f"not regexp_full_match({c}, '{_DATE}') or try_strptime({c}, '%d.%m.%Y') is null",
            "a date dd.mm.yyyy",
        )
    if t is ColType.TIMESTAMP:
        return (
            f"not regexp_full_match({c}, '{_TS}') "
            f"or try_strptime({c}, '%d.%m.%Y %H:%M:%S') is null",
            "a timestamp dd.mm.yyyy HH:MM:SS",
        )
    if t is ColType.DECIMAL:
        return f"not regexp_full_match({c}, '[0-9]{{1,3}}(,[0-9]{{1,2}})?')", (
            "a decimal with comma, e.g. 15,0"
        )
    if t is ColType.BOOLEAN:
        return f"{c} not in ('J', 'N')", "J or N"
    if t is ColType.FNR:
        return f"not regexp_full_match({c}, '[0-9]{{11}}')", "11 digits"
    if t is ColType.KOMMUNE:
        return f"not regexp_full_match({c}, '[0-9]{{4}}')", "a four-digit kommunenummer"
    if t is ColType.CODE:
        assert col.codes is not None
        return f"{c} not in ({_sql_quote(col.codes)})", "one of " + ", ".join(col.codes)
    if col.name == "landbakgrunn":
        return f"not regexp_full_match({c}, '[A-Z]{{3}}')", "an ISO 3166-1 alpha-3 code"
    return "false", ""


def _check_values(delivery: CheckedDelivery, problems: list[Problem]) -> None:
    con = duckdb.connect()
    try:
        for fspec in spec.FILES:
            t = delivery.tables[fspec.table]
            lines = pa.array(range(2, t.num_rows + 2), pa.int64())
            con.register(fspec.table, t.append_column("_line", lines))
        for fspec in spec.FILES:
            _check_table(con, fspec, problems)
        if not problems:
            _check_references(con, problems)
    finally:
        con.close()


def _check_table(con: duckdb.DuckDBPyConnection, fspec: FileSpec, problems: list[Problem]) -> None:
    # One pass per table: for every check, the count of failing rows and the first one.
    checks: list[tuple[spec.Column, str, str]] = []
    for col in fspec.columns:
        if col.required:
            checks.append((col, f'"{col.name}" is null', "is empty but required"))
        pred, expected = _invalid_predicate(col)
        if pred != "false":
            checks.append((col, f'"{col.name}" is not null and ({pred})', f"expected {expected}"))
    selects = []
    for i, (_col, pred, _) in enumerate(checks):
        selects.append(f"count(*) filter (where {pred}) as n{i}")
        selects.append(f"min(_line) filter (where {pred}) as l{i}")
    sql = f"select {', '.join(selects)} from {fspec.table}"
    row = con.execute(sql).fetchone()
    assert row is not None
    for i, (col, _pred, expected) in enumerate(checks):
        n, line = row[2 * i], row[2 * i + 1]
        if n:
            value = con.execute(
                f'select "{col.name}" from {fspec.table} where _line = {line}'
            ).fetchone()
            shown = shown_value(None if value is None else value[0], file=fspec.name)
            message = (
                f"value {shown} is invalid: {expected}"
                if expected.startswith("expected")
                else "is empty but required by the contract"
            )
            problems.append(
                Problem(
                    fspec.name,
                    message,
                    line=line,
                    column=col.name,
                    rows=n,
                    hint="correct the registration or the export and deliver again",
                )
            )
    dup = con.execute(
        f"select {fspec.key}, count(*) from {fspec.table} group by 1 having count(*) > 1 "
        "order by 2 desc limit 1"
    ).fetchone()
    if dup:
        problems.append(
            Problem(
                fspec.name,
                f"key {fspec.key} = {shown_value(dup[0], file=fspec.name)} occurs {dup[1]} "
                "times; keys must be unique",
                column=fspec.key,
            )
        )


_REFERENCES = (
    ("deltakelser", "nir_lopenr", "personer", "nir_lopenr"),
    ("vedtak", "nir_lopenr", "personer", "nir_lopenr"),
    ("tiltak", "nir_lopenr", "personer", "nir_lopenr"),
    ("tiltak", "deltakelse_id", "deltakelser", "deltakelse_id"),
)


def _check_references(con: duckdb.DuckDBPyConnection, problems: list[Problem]) -> None:
    for child, col, parent, pcol in _REFERENCES:
        row = con.execute(
            f"select count(*), min(_line) from {child} c "
            f"where not exists (select 1 from {parent} p where p.{pcol} = c.{col})"
        ).fetchone()
        if row and row[0]:
            problems.append(
                Problem(
                    f"{child}.csv",
                    f"{col} refers to no row of {parent}.csv",
                    line=row[1],
                    column=col,
                    rows=row[0],
                    hint="a snapshot must be consistent; ask for the delivery again",
                )
            )
    # A tiltak belongs to its spell's person: the same nir_lopenr on both.
    row = con.execute(
        "select count(*), min(t._line) from tiltak t join deltakelser d "
        "on d.deltakelse_id = t.deltakelse_id where t.nir_lopenr <> d.nir_lopenr"
    ).fetchone()
    if row and row[0]:
        problems.append(
            Problem(
                "tiltak.csv",
                "nir_lopenr differs from the nir_lopenr of its deltakelse_id in deltakelser.csv",
                line=row[1],
                column="nir_lopenr",
                rows=row[0],
                hint="a tiltak belongs to its spell's person; correct the export and deliver again",
            )
        )


# --- sanity (held, not rejected) -----------------------------------------------------------------
def anomalies(
    delivery: CheckedDelivery,
    settings: Settings,
    previous: tuple[date, dict[str, int]] | None = None,
    today: date | None = None,
) -> list[str]:
    """What makes a delivery that follows the contract look wrong; empty when nothing does.

    ``previous`` is the newest snapshot already loaded before this one and its row counts per
    raw table. A delivery with anomalies is held until someone accepts it (--accept-anomaly).
    """
    from zoneinfo import ZoneInfo

    reasons: list[str] = []
    snap = delivery.manifest.snapshot_date
    today = today or datetime.now(ZoneInfo(spec.TIMEZONE)).date()
    rows = {t: delivery.tables[t].num_rows for t in delivery.tables}
    if snap > today:
        reasons.append(f"it is dated {snap}, after today ({today})")
    if rows and not any(rows.values()):
        reasons.append("it is empty (no rows in any file)")
    if previous is not None:
        prev_snap, prev_rows = previous
        limit = settings.max_row_drop_share
        for table, before in prev_rows.items():
            now = rows.get(table)
            if now is None or not before:
                continue
            if (before - now) / before > limit:
                reasons.append(
                    f"{table} has {now} rows, {before - now} ({(before - now) / before:.0%}) "
                    f"fewer than snapshot {prev_snap} (limit {limit:.0%})"
                )
    return reasons
