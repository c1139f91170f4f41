"""Publication suite: a statistics database, after disclosure control, before it is published.

Run on the new file just before it replaces the published one (``nir.gate
.validate_publication``): exactly the declared columns (so no identifier column); no visible
count from 1 to ``suppression_threshold - 1``; a measure declared ``skjules_med`` a count is
hidden with it; shares in [0, 1], shown only when their counts are shown and the denominator
is at least ``min_share_denominator``; a row with a hidden cell is flagged ``prikket``; each
``<measure>_status`` says ``:`` or ``..`` where the figure is blank and the row's ``status``
where it is shown; and the independent disclosure audit found no hidden cell that the visible
ones determine.

The tables and their rules come from the declarations (``nir.catalog``); this suite imports
nothing from the publishing code.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

import duckdb
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd

from nir.catalog import PublishedTable
from nir.checks import HARD, Check
from nir.config import Settings
from nir_expectations._warehouse import columns as _columns

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
        "fodselsdato",
    }
)
SHARE_MAX = 1.0
HIDDEN, NO_FIGURE = ":", ".."  # a cell's <measure>_status when it shows no figure (SSB's symbols)
CELL_COLUMNS = (  # the frame of cells (see _cells)
    "verdi",
    "telling",
    "andel",
    "skjules_med",
    "grunnlag_skjult",
    "rad_har_skjult_telling",
    "prikket",
    "status",
    "rad_status",
)


def _judged(celler: pd.DataFrame) -> pd.DataFrame:
    """The cells as each rule judges them, one column per rule: the judged value where the
    rule applies, null elsewhere (GX's column expectations skip nulls; a pair is skipped
    where both are null). The same checks as a GX row condition per expectation, which GX
    applies by filtering the whole frame with pandas' query for each (a third of the
    suite's time); same rows, positions and so names (``describe``)."""
    verdi = pd.to_numeric(celler["verdi"], errors="coerce").astype(float)
    flag = {
        c: celler[c].fillna(False).astype(bool)
        for c in ("telling", "andel", "skjules_med", "grunnlag_skjult", "rad_har_skjult_telling")
    }
    shown, blank = verdi.notna(), verdi.isna()
    # the texts as categoricals of one dtype (the values seen in either column, so a wrong
    # one stays what it is): GX finds the nulls of every column it reads, per metric, and of
    # an object column that is a Python call per value; the pair compares equal categories
    n = len(celler)
    codes, seen = pd.factorize(
        np.concatenate([celler[c].to_numpy(dtype=object) for c in ("status", "rad_status")])
    )
    texts = pd.CategoricalDtype(seen)
    status = pd.Series(pd.Categorical.from_codes(codes[:n], dtype=texts), index=celler.index)
    rad_status = pd.Series(pd.Categorical.from_codes(codes[n:], dtype=texts), index=celler.index)
    return pd.DataFrame(
        {
            "telling": verdi.where(flag["telling"]),
            "prikket_der_skjult": celler["prikket"]
            .astype("boolean")
            .where(flag["rad_har_skjult_telling"]),
            "skjules_med_skjult": verdi.where(flag["skjules_med"] & flag["grunnlag_skjult"]),
            "andel": verdi.where(flag["andel"]),
            "andel_grunnlag_skjult": verdi.where(flag["andel"] & flag["grunnlag_skjult"]),
            "status_tom": status.where(blank),
            "status_vist": status.where(shown),
            "rad_status_vist": rad_status.where(shown),
        }
    )


class _CellNames:
    """A cell's name, ``tabell.maal`` and its row's key (``2023/kommune/0301/K/18-25``), from
    its position in the frame of cells: made only for the cells a failure message shows."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.parts: list[tuple[str, pd.DataFrame, tuple[str, ...]]] = []
        self.size = 0

    def add(self, label: str, frame: pd.DataFrame, rad: tuple[str, ...]) -> None:
        if len(frame):
            self.starts.append(self.size)
            self.parts.append((label, frame, rad))
            self.size += len(frame)

    def __call__(self, i: int) -> str:
        k = bisect.bisect_right(self.starts, i) - 1
        label, frame, rad = self.parts[k]
        row = frame.iloc[i - self.starts[k]]
        return f"{label} " + "/".join(str(row[c]) if c in row.index else "?" for c in rad)


def _cells(frame: pd.DataFrame, t: PublishedTable, min_den: int, names: _CellNames) -> pd.DataFrame:
    """One row per published cell of ``t``: its value and what the rules need to judge it.

    ``grunnlag_skjult``: for a share, a count it is computed from is hidden or its
    denominator is below ``min_den``; for a measure declared ``skjules_med`` a count, that
    count is hidden. ``status``/``rad_status`` are the cell's ``<measure>_status`` and the
    row's ``status`` (null when the table lacks them: the column check reports that).
    Each cell's name is registered with ``names``, in the order of the rows returned.
    """
    cols = set(frame.columns)
    counts = [c for c in t.count_columns if c in cols]
    hidden_count = np.zeros(len(frame), dtype=bool)
    for c in counts:
        hidden_count |= frame[c].isna().to_numpy()
    parts = []
    for m, kind in t.measures.items():
        if m not in cols:
            continue
        value = pd.to_numeric(frame[m], errors="coerce").astype(float)
        grunnlag = np.zeros(len(frame), dtype=bool)
        if m in t.andeler:
            a = t.andeler[m]
            for c in dict.fromkeys([a.nevner, *a.av]):
                if c in cols:
                    grunnlag |= frame[c].isna().to_numpy()
            if a.nevner in cols:
                den = pd.to_numeric(frame[a.nevner], errors="coerce").to_numpy(dtype=float)
                grunnlag |= den < min_den
        elif m in t.maal and t.maal[m].skjules_med in cols:
            grunnlag |= frame[t.maal[m].skjules_med].isna().to_numpy()
        status = f"{m}_status"
        names.add(f"{t.name}.{m}", frame, t.rad)
        parts.append(
            pd.DataFrame(
                {
                    "verdi": value.to_numpy(),
                    "telling": m in counts,
                    "andel": kind == "andel",
                    "skjules_med": bool(m in t.maal and t.maal[m].skjules_med),
                    "grunnlag_skjult": grunnlag,
                    "rad_har_skjult_telling": hidden_count,
                    "prikket": frame["prikket"].to_numpy() if "prikket" in cols else None,
                    "status": frame[status].to_numpy() if status in cols else None,
                    "rad_status": frame["status"].to_numpy() if "status" in cols else None,
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CELL_COLUMNS)


def _columns_frame(
    con: duckdb.DuckDBPyConnection, schema: str, catalog: dict[str, PublishedTable]
) -> pd.DataFrame:
    """Every declared and every present column of the published tables, one row each."""
    rows = []
    for t in catalog.values():
        present = _columns(con, schema, t.name)
        declared = list(t.published_columns)
        for c in dict.fromkeys([*declared, *present]):
            rows.append(
                {
                    "kolonne": f"{schema}.{t.name}.{c}",
                    "navn": c.lower(),
                    "deklarert": c in declared,
                    "finnes": c in present,
                }
            )
    return pd.DataFrame(rows)


def build(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    catalog: dict[str, PublishedTable],
    audit: pd.DataFrame | Callable[[], pd.DataFrame],
    schema: str = "statistikk",
) -> list[Check]:
    """The checks of a built statistics database in ``schema``.

    The cells of every published table are checked together, one row per cell (GX's cost
    is per expectation, not per row: seven expectations over all tables, where one set per
    table cost ten times as much); a failure names the cells (``tabell.maal`` and the row).
    ``audit`` has one row per hidden cell the independent audit found determined by the
    visible cells (columns ``celle``, ``primaer``, ``melding``); none may be primary. It may
    be a function returning that frame: it is called when the audit's check runs, last.
    """
    threshold = int(settings.suppression_threshold)
    small = [float(v) for v in range(1, threshold)]
    min_den = int(settings.min_share_denominator)
    kolonner = _columns_frame(con, schema, catalog)
    frames = []
    names = _CellNames()
    for t in catalog.values():
        if _columns(con, schema, t.name):
            frame = con.execute(f"select * from {schema}.{t.name}").df()
            frames.append(_cells(frame, t, min_den, names))
    celler = pd.concat([f for f in frames if len(f)], ignore_index=True) if frames else None
    if celler is None or not len(celler):  # no table at all: the column checks say so
        celler = pd.DataFrame(columns=CELL_COLUMNS)
    checks = [
        Check(
            "kolonner",
            kolonner,
            [
                gxe.ExpectColumnValuesToNotBeInSet(
                    column="navn",
                    value_set=sorted(IDENTIFIER_COLUMNS),
                    meta={"severity": HARD, "label": "identifier column in a published table"},
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="deklarert",
                    value_set=[True],
                    meta={"severity": HARD, "label": "unexpected column(s) (not declared)"},
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="finnes",
                    value_set=[True],
                    meta={"severity": HARD, "label": "missing column(s) (declared)"},
                ),
            ],
            describe="kolonne",
        ),
        Check(
            "celler",
            _judged(celler),
            [
                gxe.ExpectColumnValuesToNotBeInSet(
                    column="telling",
                    value_set=small,
                    meta={"severity": HARD, "label": f"a count visible below {threshold}"},
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="prikket_der_skjult",
                    value_set=[True],
                    meta={"severity": HARD, "label": "a hidden cell's row not flagged prikket"},
                ),
                gxe.ExpectColumnValuesToBeNull(
                    column="skjules_med_skjult",
                    meta={"severity": HARD, "label": "a measure shown where its count is hidden"},
                ),
                gxe.ExpectColumnValuesToBeBetween(
                    column="andel",
                    min_value=0,
                    max_value=SHARE_MAX,
                    meta={"severity": HARD, "label": f"a share outside [0, {SHARE_MAX:g}]"},
                ),
                gxe.ExpectColumnValuesToBeNull(
                    column="andel_grunnlag_skjult",
                    meta={
                        "severity": HARD,
                        "label": "a share shown with a hidden count or its denominator "
                        f"below {min_den}",
                    },
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="status_tom",
                    value_set=[HIDDEN, NO_FIGURE],
                    meta={"severity": HARD, "label": "a blank cell not marked ':' or '..'"},
                ),
                gxe.ExpectColumnPairValuesToBeEqual(
                    column_A="status_vist",
                    column_B="rad_status_vist",
                    meta={
                        "severity": HARD,
                        "label": "a shown figure not marked with its row's status",
                    },
                ),
            ],
            describe=names,
        ),
    ]

    def findings() -> pd.DataFrame:
        frame = audit() if callable(audit) else audit
        if not len(frame):
            frame = pd.DataFrame({"celle": [], "primaer": [], "melding": []})
        return frame.assign(primaer=frame["primaer"].astype(bool))

    checks.append(
        Check(
            "avsloringskontroll",
            findings,  # last: an audit still running is awaited after the other checks
            [
                gxe.ExpectColumnValuesToBeInSet(
                    column="primaer",
                    value_set=[False],
                    meta={
                        "severity": HARD,
                        "label": "hidden primary cell recoverable from visible cells",
                    },
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="primaer",
                    value_set=[],
                    meta={
                        "severity": "warning",
                        "label": "hidden secondary cell recoverable (protects nothing)",
                    },
                ),
            ],
            describe="melding",
        )
    )
    return checks
