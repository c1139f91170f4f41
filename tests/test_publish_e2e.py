"""End to end on real dbt output: generate, load, dbt, gate, control lists, publish."""

from __future__ import annotations

import csv
import io
from datetime import date

import duckdb
import pytest
from nir_expectations.publication import IDENTIFIER_COLUMNS

from nir.config import load_settings
from nir.gate import run_gate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from nir.delivery.load import load_delivery
    from nir.tools.generate import generate
    from nir.warehouse.dbt import build

    root = tmp_path_factory.mktemp("e2e")
    # the flow is under test here, not the threshold: the generator's default defect rates
    # put the national «ikke registrert» share close to 5 %, and in this small register the
    # oldest years have a handful of endings each
    settings = load_settings(data_dir=root / "data", gate_max_ikke_registrert_share=0.25)
    deliveries = generate(
        settings.landing, persons=600, start="2024-01", end="2024-02", seed=3, daily=0
    )
    snapshots = []
    for d in deliveries:
        load_delivery(settings, d)
        snap = date.fromisoformat(d.name)
        build(settings, snap)
        run_gate(settings, snap)
        snapshots.append(snap)
    return settings, snapshots


def test_control_lists_from_real_marts(built):
    from nir.kommune.controllists import write_control_lists

    settings, snapshots = built
    out = write_control_lists(settings, snapshots[-1])
    kommuner = [p for p in out.iterdir() if p.is_dir()]
    assert kommuner
    for folder in kommuner:
        (csv_file,) = folder.glob("kontrolliste_*.csv")
        text = csv_file.read_bytes().decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
        assert {r["Kommune"].split()[0] for r in rows} <= {folder.name}


def test_publish_real_output_and_freeze_2023(built):
    from nir.publication.publish import publish

    settings, snapshots = built
    assert snapshots == [date(2024, 2, 1), date(2024, 3, 1)]
    for snap in snapshots:
        db = publish(settings, snap)
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = {
            r[0]
            for r in con.execute(
                "select column_name from duckdb_columns() where schema_name = 'statistikk'"
            ).fetchall()
        }
        assert not cols & IDENTIFIER_COLUMNS
        status = con.execute(
            "select distinct status, snapshot_date from statistikk.resultater_aar where aar = 2023"
        ).fetchall()
        assert status == [("endelig", date(2024, 3, 1))]
    finally:
        con.close()
