"""Contract suite: a delivery before it is loaded, as a GX record of the contract check.

For the manifest: contract version and kind. For each file of ``nir_export.FILES``: the header
(names and order), the row count against the manifest, the key unique, required fields
present, and every field of the right type (integers, dates ``dd.mm.yyyy``, timestamps,
decimals with a comma, ``J``/``N``, four-digit kommune numbers, 11-digit fødselsnummer) and
code (code lists). Fields are read as text, exactly as delivered; an empty field is null.
The fødselsnummer column is checked for its shape only and never leaves this process.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import great_expectations.expectations as gxe
import pandas as pd

from nir.config import Settings
from nir.contracts import nir_export as spec
from nir.gate import HARD, Check

_FNR = re.compile(r"\d{11}")
_DAY = r"^(0[1-9]|[12]\d|3[01])\.(0[1-9]|1[0-2])\.\d{4}$"
_REGEX = {
    spec.ColType.INTEGER: r"^-?\d+$",
    spec.ColType.DECIMAL: r"^-?\d+(?:,\d+)?$",
    spec.ColType.KOMMUNE: r"^\d{4}$",
    # Dates and timestamps by shape (day 01-31, month 01-12, time of day). GX's strftime
    # expectation calls Python's strptime once per value (17 s for a national snapshot); the
    # calendar check (no 31.02) is the package's own contract check, which runs first.
    spec.ColType.DATE: _DAY,
    spec.ColType.TIMESTAMP: _DAY[:-1] + r" ([01]\d|2[0-3]):[0-5]\d:[0-5]\d$",
}


def _meta(label: str) -> dict[str, str]:
    return {"severity": HARD, "label": label}


def _read(path: Path, encoding: str) -> pd.DataFrame:
    enc = "cp1252" if encoding.lower() in ("windows-1252", "cp1252") else "utf-8-sig"
    df = pd.read_csv(
        path,
        sep=spec.DELIMITER,
        quotechar=spec.QUOTECHAR,
        dtype=str,
        keep_default_na=False,
        encoding=enc,
    )
    df = df.replace("", None)
    return df


def _mask_fnr(frame: pd.DataFrame, column: str) -> None:
    """Replace fødselsnummer by its shape, so that no number reaches a result or Data Docs."""
    frame[column] = frame[column].map(
        lambda v: None if v is None else ("11 siffer" if _FNR.fullmatch(v) else "annen form")
    )


def build(settings: Settings, delivery_dir: Path) -> list[Check]:
    manifest_path = delivery_dir / spec.MANIFEST
    manifest = json.loads(manifest_path.read_text("utf-8")) if manifest_path.is_file() else {}
    checks = [
        Check(
            "manifest",
            pd.DataFrame(
                [
                    {
                        "contract_version": str(manifest.get("contract_version")),
                        "kind": manifest.get("kind"),
                        "files": len(manifest.get("files") or {}),
                    }
                ]
            ),
            [
                gxe.ExpectColumnValuesToBeInSet(
                    column="contract_version",
                    value_set=[spec.CONTRACT_VERSION],
                    meta=_meta("manifest contract_version"),
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="kind", value_set=list(spec.DELIVERY_KINDS), meta=_meta("manifest kind")
                ),
            ],
        )
    ]
    encoding = str(manifest.get("encoding") or "utf-8")
    files = manifest.get("files") or {}
    for f in spec.FILES:
        path = delivery_dir / f.name
        expected_rows = int((files.get(f.name) or {}).get("rows", -1))
        if not path.is_file():
            frame = pd.DataFrame({c: [] for c in f.header})
            exps = [
                gxe.ExpectTableRowCountToEqual(
                    value=max(expected_rows, 1), meta=_meta(f"{f.name} missing")
                )
            ]
            checks.append(Check(f.table, frame, exps))
            continue
        frame = _read(path, encoding)
        exps = [
            gxe.ExpectTableColumnsToMatchOrderedList(
                column_list=f.header, meta=_meta(f"{f.name} header")
            ),
            gxe.ExpectTableRowCountToEqual(
                value=expected_rows, meta=_meta(f"{f.name} rows against the manifest")
            ),
        ]
        present = set(frame.columns)
        if f.key in present:
            exps.append(
                gxe.ExpectColumnValuesToBeUnique(column=f.key, meta=_meta(f"{f.name} {f.key} key"))
            )
        for c in f.columns:
            if c.name not in present:
                continue
            where = f"{f.name} {c.name}"
            if c.required:
                exps.append(
                    gxe.ExpectColumnValuesToNotBeNull(column=c.name, meta=_meta(f"{where} empty"))
                )
            if c.type is spec.ColType.FNR:
                _mask_fnr(frame, c.name)
                exps.append(
                    gxe.ExpectColumnValuesToBeInSet(
                        column=c.name, value_set=["11 siffer"], meta=_meta(f"{where} not 11 digits")
                    )
                )
            elif c.type in _REGEX:
                exps.append(
                    gxe.ExpectColumnValuesToMatchRegex(
                        column=c.name, regex=_REGEX[c.type], meta=_meta(f"{where} not {c.type}")
                    )
                )
            elif c.type is spec.ColType.BOOLEAN:
                exps.append(
                    gxe.ExpectColumnValuesToBeInSet(
                        column=c.name,
                        value_set=[spec.TRUE, spec.FALSE],
                        meta=_meta(f"{where} not J/N"),
                    )
                )
            elif c.type is spec.ColType.CODE and c.codes:
                exps.append(
                    gxe.ExpectColumnValuesToBeInSet(
                        column=c.name, value_set=list(c.codes), meta=_meta(f"{where} unknown code")
                    )
                )
        checks.append(Check(f.table, frame, exps))
    return checks
