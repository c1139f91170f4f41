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

import duckdb
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.expectations.row_conditions import Column, Condition, OrCondition

from nir.catalog import PublishedTable
from nir.config import Settings
from nir.gate import HARD, Check
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


def _any_null(columns: list[str]) -> Condition:
    if len(columns) == 1:
        return Column(columns[0]).is_null()
    return OrCondition(conditions=[Column(c).is_null() for c in columns])


def _table_checks(
    con: duckdb.DuckDBPyConnection, settings: Settings, schema: str, t: PublishedTable
) -> Check:
    threshold = int(settings.suppression_threshold)
    small = list(range(1, threshold))
    min_den = int(settings.min_share_denominator)
    cols = _columns(con, schema, t.name)
    idents = [c for c in cols if c.lower() in IDENTIFIER_COLUMNS]
    label = f"columns of {schema}.{t.name}"
    if idents:
        label = f"identifier column(s) {', '.join(idents)} in {schema}.{t.name}"
    exps: list = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(t.published_columns),
            exact_match=True,
            meta={"severity": HARD, "label": label},
        )
    ]
    if not cols:
        return Check(t.name, pd.DataFrame({"tabell_mangler": []}), exps)
    frame = con.execute(f"select * from {schema}.{t.name}").df()
    counts = [c for c in t.count_columns if c in cols]
    for c in counts:
        exps.append(
            gxe.ExpectColumnValuesToNotBeInSet(
                column=c,
                value_set=[float(v) for v in small] if frame[c].dtype.kind == "f" else small,
                meta={"severity": HARD, "label": f"{t.name}.{c} visible below {threshold}"},
            )
        )
    if counts and "prikket" in cols:
        exps.append(
            gxe.ExpectColumnValuesToBeInSet(
                column="prikket",
                value_set=[True],
                row_condition=_any_null(counts),
                meta={"severity": HARD, "label": f"{t.name}: hidden cell not flagged prikket"},
            )
        )
    for m in t.maal.values():
        if m.skjules_med and m.name in cols and m.skjules_med in cols:
            exps.append(
                gxe.ExpectColumnValuesToBeNull(
                    column=m.name,
                    row_condition=Column(m.skjules_med).is_null(),
                    meta={
                        "severity": HARD,
                        "label": f"{t.name}.{m.name} shown where {m.skjules_med} is hidden",
                    },
                )
            )
    for a in t.andeler.values():
        if a.name not in cols:
            continue
        exps.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=a.name,
                min_value=0,
                max_value=SHARE_MAX,
                meta={"severity": HARD, "label": f"{t.name}.{a.name} in [0, {SHARE_MAX:g}]"},
            )
        )
        shown_without = [c for c in a.av if c in cols]
        if a.nevner in cols:
            exps.append(
                gxe.ExpectColumnValuesToBeNull(
                    column=a.name,
                    row_condition=OrCondition(
                        conditions=[
                            *(
                                Column(c).is_null()
                                for c in dict.fromkeys([a.nevner, *shown_without])
                            ),
                            Column(a.nevner) < min_den,
                        ]
                    ),
                    meta={
                        "severity": HARD,
                        "label": f"{t.name}.{a.name} shown with a hidden count or "
                        f"{a.nevner} below {min_den}",
                    },
                )
            )
    for m in t.measures:
        status = f"{m}_status"
        if m not in cols or status not in cols or "status" not in cols:
            continue
        exps += [
            gxe.ExpectColumnValuesToBeInSet(
                column=status,
                value_set=[HIDDEN, NO_FIGURE],
                row_condition=Column(m).is_null(),
                meta={"severity": HARD, "label": f"{t.name}.{status}: a blank cell not marked"},
            ),
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A=status,
                column_B="status",
                row_condition=Column(m).is_not_null(),
                meta={
                    "severity": HARD,
                    "label": f"{t.name}.{status}: a shown figure not marked as its row's status",
                },
            ),
        ]
    return Check(t.name, frame, exps)


def build(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    catalog: dict[str, PublishedTable],
    audit: pd.DataFrame,
    schema: str = "statistikk",
) -> list[Check]:
    """The checks of a built statistics database in ``schema``.

    ``audit`` has one row per hidden cell the independent audit found determined by the
    visible cells (columns ``celle``, ``primaer``, ``melding``); none may be primary.
    """
    checks = [_table_checks(con, settings, schema, t) for t in catalog.values()]
    frame = audit if len(audit) else pd.DataFrame({"celle": [], "primaer": [], "melding": []})
    frame = frame.assign(primaer=frame["primaer"].astype(bool))
    checks.append(
        Check(
            "avsloringskontroll",
            frame,
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
