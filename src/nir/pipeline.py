"""The pipeline's steps as plain functions: what the DAGs and the CLI call.

Each step takes the settings and the snapshot it works on, does one thing, and raises a
:class:`nir.errors.NirError` subclass with a one-line message when it cannot. The DAGs in
``dags/`` only wire these steps; everything here is tested without a scheduler.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from nir.config import Settings


def delivery_dir(settings: Settings, snapshot: date) -> Path:
    """Where the delivery for ``snapshot`` lands: ``<landing>/<YYYY-MM-DD>/``."""
    return settings.landing / snapshot.isoformat()


def delivery_ready(settings: Settings, snapshot: date) -> bool:
    """True when the delivery for ``snapshot`` is complete (its manifest is written last)."""
    from nir.contract import delivery_complete

    return delivery_complete(delivery_dir(settings, snapshot))


def check_contract(settings: Settings, snapshot: date) -> None:
    """Validate the delivery against its manifest and the contract; quarantine it if bad."""
    from nir.load import check_or_quarantine

    check_or_quarantine(settings, delivery_dir(settings, snapshot))


def load(settings: Settings, snapshot: date) -> str:
    """Load the delivery into the warehouse's raw tables (one transaction, idempotent)."""
    from nir.load import load_delivery

    return load_delivery(settings, delivery_dir(settings, snapshot)).outcome
