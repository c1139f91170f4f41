"""Pseudonymisation of fødselsnummer at ingest.

A fødselsnummer (or D-nummer) becomes ``HMAC-SHA256(key, number)`` in hex, plus a flag
saying whether it passed its check digits (``python-stdnum``). The key comes from the
configuration (``NIR_PSEUDONYM_KEY``, a key file, or an Airflow variable passed in by the
DAG), never from the repository or the data. The clear value exists only in memory while a
delivery is being loaded.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection

import pyarrow as pa
from stdnum.no import fodselsnummer

FNR_COLUMN = "fodselsnummer"


def pseudonym(key: bytes, number: str) -> str:
    return hmac.new(key, number.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A short, non-secret name for the key, recorded per snapshot so rotations are visible."""
    return hmac.new(key, b"nir-pseudonym-key-id", hashlib.sha256).hexdigest()[:12]


def is_valid(number: str) -> bool:
    """Check digits (mod 11) and date part of a fødselsnummer or D-nummer."""
    return fodselsnummer.is_valid(number)


def pseudonymise_table(
    table: pa.Table, key: bytes, *, known_valid: Collection[str] = frozenset()
) -> pa.Table:
    """Replace the ``fodselsnummer`` column by ``fnr_pseudonym`` and ``fnr_gyldig``.

    ``known_valid``: pseudonyms under ``key`` whose numbers an earlier snapshot found valid.
    Their check is carried, not repeated (nearly every person is unchanged from one month to
    the next): a number that passed stays valid, since the only rule that depends on the day
    of the check (a birth date not in the future) can only become truer. A number that failed
    is checked again.
    """
    idx = table.schema.get_field_index(FNR_COLUMN)
    numbers = table.column(FNR_COLUMN).to_pylist()
    pseudonyms = [pseudonym(key, n) for n in numbers]
    valid = [p in known_valid or is_valid(n) for p, n in zip(pseudonyms, numbers, strict=True)]
    del numbers
    table = table.remove_column(idx)
    table = table.add_column(idx, "fnr_gyldig", pa.array(valid, pa.bool_()))
    return table.add_column(idx, "fnr_pseudonym", pa.array(pseudonyms, pa.string()))
