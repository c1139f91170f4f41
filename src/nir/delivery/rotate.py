"""Rotate the pseudonymisation key: reload every delivery under the current key, rebuild.

The pseudonym is ``HMAC-SHA256(key, fødselsnummer)`` and ``raw.leveranser.pseudonym_key_id``
records which key each snapshot was loaded with. The loader treats a snapshot loaded under
another key as changed and replaces it, so a rotation is:

1. set the new key (``NIR_PSEUDONYM_KEY``, the key file, or :func:`new_key_file`);
2. :func:`reload` every loaded snapshot whose delivery is still in the landing area (the
   clear numbers exist only there) and rebuild each reloaded snapshot.

Snapshots whose delivery is no longer in the landing area cannot be re-pseudonymised: they
are reported (:func:`stale_snapshots`) and keep the old key's pseudonyms until the snapshot is
delivered again. Interrupted halfway, :func:`reload` is simply run again: snapshots already
under the new key are ``unchanged``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from nir.config import Settings, write_new_key
from nir.contracts import nir_export as spec
from nir.delivery.pseudonymize import key_id
from nir.errors import NirError


class RotationError(NirError):
    """A key rotation cannot start (the key is not in a file, deliveries are missing)."""

    exit_code = 2


@dataclass
class ReloadReport:
    key_id: str
    reloaded: dict[date, str] = field(default_factory=dict)  # snapshot -> load outcome
    rebuilt: list[date] = field(default_factory=list)
    stale: list[date] = field(default_factory=list)  # still under another key


def deliveries_in_landing(settings: Settings) -> list[Path]:
    """Complete deliveries (manifest written) in the landing area, oldest first."""
    if not settings.landing.is_dir():
        return []
    return sorted(
        p
        for p in settings.landing.iterdir()
        if p.is_dir() and not p.is_symlink() and (p / spec.MANIFEST).is_file()
    )


def loaded_key_ids(settings: Settings) -> dict[date, str]:
    """Snapshot -> the key id it was loaded with (empty without a warehouse)."""
    from nir.warehouse import connect

    if not settings.warehouse.exists():
        return {}
    con = connect(settings, read_only=True)
    try:
        rows = con.execute(
            "select snapshot_date, pseudonym_key_id from raw.leveranser order by 1"
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def stale_snapshots(settings: Settings) -> list[date]:
    """Loaded snapshots whose pseudonyms were made with another key than the current one."""
    current = key_id(settings.key_bytes())
    return [s for s, k in loaded_key_ids(settings).items() if k != current]


def missing_deliveries(settings: Settings) -> list[date]:
    """Loaded snapshots whose delivery is no longer in the landing area."""
    present = {p.name for p in deliveries_in_landing(settings)}
    return [s for s in loaded_key_ids(settings) if s.isoformat() not in present]


def reload(settings: Settings, *, rebuild: bool = True) -> ReloadReport:
    """Load again, under the current key, every loaded snapshot whose delivery is still in
    the landing area; rebuild what changed. Deliveries not loaded yet are left to their run."""
    from nir.delivery.load import load_delivery
    from nir.warehouse.dbt import build

    report = ReloadReport(key_id(settings.key_bytes()))
    loaded = {s.isoformat() for s in loaded_key_ids(settings)}
    for path in deliveries_in_landing(settings):
        if path.name not in loaded:
            continue
        result = load_delivery(settings, path)
        report.reloaded[result.snapshot_date] = result.outcome
    if rebuild:
        for snap, outcome in sorted(report.reloaded.items()):
            if outcome != "unchanged":
                build(settings, snap)
                report.rebuilt.append(snap)
    report.stale = stale_snapshots(settings)
    return report


def key_file(settings: Settings) -> Path:
    """The file the key is read from (the embedded default or ``pseudonym_key_file``)."""
    if settings.pseudonym_key is not None:
        raise RotationError(
            "the pseudonym key comes from NIR_PSEUDONYM_KEY: put the new key there yourself, "
            "then run `nir reload`"
        )
    settings.check_key_location()  # a deployed run never writes a key into the data folder
    return settings.key_file


def new_key_file(settings: Settings, *, allow_missing: bool = False) -> str:
    """Replace the key file by a new random key (owner-only, atomic); returns the new key id.

    Refuses when a loaded snapshot's delivery is no longer in the landing area (its
    pseudonyms could not be remade) unless ``allow_missing``.
    """
    path = key_file(settings)
    missing = missing_deliveries(settings)
    if missing and not allow_missing:
        raise RotationError(
            f"{len(missing)} loaded snapshot(s) have no delivery in {settings.landing} "
            f"({', '.join(s.isoformat() for s in missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''}): their pseudonyms cannot be remade; "
            "put the deliveries back, or rotate with --allow-missing"
        )
    write_new_key(path, replace=True)
    return key_id(path.read_text().strip().encode())
