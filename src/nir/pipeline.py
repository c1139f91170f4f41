"""The pipeline's steps as plain functions: what the DAGs and the CLI call.

Each step takes the settings and the snapshot it works on, does one thing, and raises a
:class:`nir.errors.NirError` subclass with a one-line message when it cannot. The DAGs in
``dags/`` only wire these steps; everything here is tested without a scheduler.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from nir import imports
from nir.config import Settings

log = logging.getLogger(__name__)


def delivery_dir(settings: Settings, snapshot: date) -> Path:
    """Where the delivery for ``snapshot`` lands: ``<landing>/<YYYY-MM-DD>/``."""
    return settings.landing / snapshot.isoformat()


def delivery_ready(settings: Settings, snapshot: date) -> bool:
    """True when the delivery for ``snapshot`` is complete (its manifest is written last)."""
    from nir.delivery.check import delivery_complete

    return delivery_complete(delivery_dir(settings, snapshot))


def check_contract(settings: Settings, snapshot: date) -> None:
    """Validate the delivery against its manifest and the contract; quarantine it if bad.

    The package's own check names file, line and column and never repeats a value of
    ``personer.csv``; a rejected delivery is copied to quarantine (the landing folder is left
    as delivered) and ``ContractError`` (exit 3, not retried) says where, never what.
    """
    from nir.delivery.load import check_or_quarantine

    check_or_quarantine(settings, delivery_dir(settings, snapshot))


def load(settings: Settings, snapshot: date, *, accept_anomaly: bool = False) -> str:
    """Load the delivery into the warehouse's raw tables (one transaction, idempotent).

    A delivery that is empty, dated after today or far smaller than the previous snapshot is
    held (``DeliveryHeld``, not retried) unless ``accept_anomaly``.
    """
    from nir.delivery.load import load_delivery

    path = delivery_dir(settings, snapshot)
    return load_delivery(settings, path, accept_anomaly=accept_anomaly).outcome


def build(settings: Settings, snapshot: date, *, controls_only: bool = False) -> None:
    """Run dbt for ``snapshot``: staging -> intermediate -> marts (incremental per snapshot).

    ``controls_only`` builds just what the registration controls need (the nightly run).
    """
    imports.wait()  # a step never imports dbt or GX beside the worker's background thread
    from nir.warehouse.dbt import build as dbt_build

    dbt_build(settings, snapshot, controls_only=controls_only)


def gate(settings: Settings, snapshot: date) -> None:
    """Run the completeness and publication suites; raise ``GateFailed`` when a hard one fails.

    A failed gate rewrites the gate's pages in ``<data>/docs/`` with its verdict, since the
    run stops here; a passed one leaves them to the ``docs`` step after ``publish``, off the
    path to the publication.
    """
    imports.wait()  # a step never imports dbt or GX beside the worker's background thread
    from nir.gate import run_gate

    try:
        run_gate(settings, snapshot)
    except BaseException:
        _gate_pages(settings)
        raise


def _gate_pages(settings: Settings) -> None:
    """The docs' gate pages and index (no dbt): a failure to write them is logged, not raised,
    so it never hides the gate's own outcome."""
    from nir.docs_site import write_docs
    from nir.errors import NirError

    try:
        write_docs(settings, dbt=False)
    except (NirError, OSError) as exc:
        log.warning("the gate's pages were not written: %s", exc)


def docs(settings: Settings, snapshot: date) -> Path:
    """Write the offline docs (dbt's docs, the gate's pages, an index); returns the index."""
    imports.wait()  # a step never imports dbt or GX beside the worker's background thread
    from nir.docs_site import write_docs

    return write_docs(settings, snapshot)


def publish(settings: Settings, snapshot: date) -> Path:
    """Write-audit-publish the statistics of ``snapshot``; returns the published database.

    A publication that fails rewrites the gate's pages (a rejected one is recorded among the
    gate's results), since the run stops here."""
    imports.wait()  # a step never imports dbt or GX beside the worker's background thread
    from nir.publication.publish import publish as do_publish

    try:
        return do_publish(settings, snapshot)
    except BaseException:
        _gate_pages(settings)
        raise


def control_lists(settings: Settings, snapshot: date) -> Path:
    """Write the kommuner's control lists and packs for ``snapshot``; returns their folder.

    Inside a correction window (1 January to the deadline) the IMDi tracker of that
    reference year is rewritten too, so it follows every monthly and nightly snapshot.
    """
    imports.wait()  # a step never imports dbt or GX beside the worker's background thread
    from nir.kommune.controllists import write_control_lists
    from nir.kommune.tracker import aar_for_snapshot, skriv_sporing

    out = write_control_lists(settings, snapshot)
    aar = aar_for_snapshot(settings, snapshot)
    if aar is not None:
        skriv_sporing(settings, aar)
    return out


def freeze(settings: Settings, year: int) -> None:
    """Freeze the final figures of reference year ``year`` and publish the revisions."""
    imports.wait()  # a step never imports dbt or GX beside the worker's background thread
    from nir.publication.publish import freeze_final

    freeze_final(settings, year)
