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
    from nir.delivery.check import delivery_complete

    return delivery_complete(delivery_dir(settings, snapshot))


def check_contract(settings: Settings, snapshot: date) -> None:
    """Validate the delivery against its manifest and the contract; quarantine it if bad.

    The package's own check runs first (it names file, line and column); the GX contract
    suite then keeps a validation record and Data Docs of the same delivery.
    """
    from nir.delivery.load import check_or_quarantine
    from nir.gate import validate_delivery

    path = delivery_dir(settings, snapshot)
    check_or_quarantine(settings, path)
    validate_delivery(settings, path)


def load(settings: Settings, snapshot: date) -> str:
    """Load the delivery into the warehouse's raw tables (one transaction, idempotent)."""
    from nir.delivery.load import load_delivery

    return load_delivery(settings, delivery_dir(settings, snapshot)).outcome


def build(settings: Settings, snapshot: date, *, controls_only: bool = False) -> None:
    """Run dbt for ``snapshot``: staging -> intermediate -> marts (incremental per snapshot).

    ``controls_only`` builds just what the registration controls need (the nightly run).
    """
    from nir.warehouse.dbt import build as dbt_build

    dbt_build(settings, snapshot, controls_only=controls_only)


def gate(settings: Settings, snapshot: date) -> None:
    """Run the completeness and publication suites; raise ``GateFailed`` when a hard one fails."""
    from nir.gate import run_gate

    run_gate(settings, snapshot)


def publish(settings: Settings, snapshot: date) -> Path:
    """Write-audit-publish the statistics of ``snapshot``; returns the published database."""
    from nir.publication.publish import publish as do_publish

    return do_publish(settings, snapshot)


def control_lists(settings: Settings, snapshot: date) -> Path:
    """Write the kommuner's control lists for ``snapshot``; returns their folder."""
    from nir.kommune.controllists import write_control_lists

    return write_control_lists(settings, snapshot)


def freeze(settings: Settings, year: int) -> None:
    """Freeze the final figures of reference year ``year`` and publish the revisions."""
    from nir.publication.publish import freeze_final

    freeze_final(settings, year)
