"""A vectorised fødselsnummer check, measured against python-stdnum (see docs/performance.md).

A prototype for ``nir.delivery.pseudonymize`` (not used by the pipeline): ``fnr_valid`` applies the
rules of ``stdnum.no.fodselsnummer.is_valid`` to a whole column at once. Run it from the
repository root after ``nir bench`` has generated its histories:

    .venv/bin/python benchmarks/fnr_check.py
"""

from __future__ import annotations

import datetime
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
from stdnum.no import fodselsnummer

W1 = np.array([3, 7, 6, 1, 8, 9, 4, 5, 2])
W2 = np.array([5, 4, 3, 2, 7, 6, 5, 4, 3, 2])


def fnr_valid(numbers: pa.Array) -> np.ndarray:
    """``fodselsnummer.is_valid`` for every value of a string column (nulls are invalid)."""
    cleaned = [
        x.replace(" ", "").replace("-", "").replace(":", "") if x else ""
        for x in numbers.to_pylist()
    ]
    s = np.array(cleaned, dtype="U12")
    ok = (np.char.str_len(s) == 11) & np.char.isdigit(s)
    d = np.zeros((len(s), 11), np.int64)
    d[ok] = s[ok].astype("S11").view(np.uint8).reshape(-1, 11) - 48
    k1 = (11 - d[:, :9] @ W1) % 11
    k2 = (11 - d[:, :10] @ W2) % 11
    ok &= (k1 == d[:, 9]) & (k2 == d[:, 10])  # a check digit of 10 never matches: invalid
    day = d[:, 0] * 10 + d[:, 1]
    month = d[:, 2] * 10 + d[:, 3]
    yy = d[:, 4] * 10 + d[:, 5]
    ind = d[:, 6] * 100 + d[:, 7] * 10 + d[:, 8]
    ok &= day < 80  # FH numbers carry no birth date
    day = np.where(day > 40, day - 40, day)  # D-nummer
    month = np.where(month > 40, month - 40, month)  # H-nummer
    year = np.select(
        [ind < 500, (ind < 750) & (yy >= 54), yy < 40, (ind >= 900) & (yy >= 40)],
        [1900 + yy, 1800 + yy, 2000 + yy, 1900 + yy],
        -1,
    )
    ok &= (year > 0) & (month >= 1) & (month <= 12) & (day >= 1)
    y = np.where(ok, year, 2000)
    m = np.where(ok, month, 1)
    first = (y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (m - 1)
    length = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(int)
    ok &= day <= length
    born = first.astype("datetime64[D]") + (np.where(ok, day, 1) - 1)
    ok &= born <= np.datetime64(datetime.date.today())
    return ok


def _compare(label: str, col: pa.Array) -> int:
    t0 = time.monotonic()
    ref = np.array([fodselsnummer.is_valid(x) for x in col.to_pylist()])
    t1 = time.monotonic()
    vec = fnr_valid(col)
    t2 = time.monotonic()
    wrong = int((ref != vec).sum())
    print(
        f"{label}: {len(col)} numbers, stdnum {t1 - t0:.2f} s, vectorised {t2 - t1:.2f} s, "
        f"invalid {int((~ref).sum())}, disagreements {wrong}"
    )
    return wrong


def _with_check_digits(x: str) -> str:
    k1 = (11 - sum(w * int(n) for w, n in zip(W1, x, strict=False))) % 11
    y = x[:9] + str(k1 % 10)
    k2 = (11 - sum(w * int(n) for w, n in zip(W2, y, strict=False))) % 11
    return y + str(k2 % 10)


def main() -> int:
    wrong = 0
    for scale in ("national", "tenfold"):
        path = f"data/bench/{scale}/landing/2025-01-01/personer.csv"
        try:
            table = pcsv.read_csv(
                path,
                parse_options=pcsv.ParseOptions(delimiter=";"),
                convert_options=pcsv.ConvertOptions(column_types={"fodselsnummer": pa.string()}),
            )
        except FileNotFoundError:
            print(f"{path} not found: run `nir bench` first")
            continue
        wrong += _compare(scale, table.column("fodselsnummer").combine_chunks())
    rng = np.random.default_rng(1)
    rand = ["".join(map(str, rng.integers(0, 10, 11))) for _ in range(200_000)]
    edge = ["01010050045", "41010050045", "01410050045", "80010012345", "29029900000"]
    edge += ["31040000000", "", "0101005004", "0101005004x", "010100 50045"]
    cases = edge + rand + [_with_check_digits(x) for x in rand]
    wrong += _compare("random and edge cases", pa.array(cases))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
