"""Which snapshot, period or year a DAG run handles (nir.periods): scheduled, manual, backfill."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from nir.config import load_settings
from nir.periods import (
    PeriodError,
    annual_years,
    final_snapshot,
    logical_date_for,
    monthly_snapshot,
    nightly_snapshot,
    period_of,
    periods_between,
    snapshot_for_period,
    snapshots_for_periods,
    years_finalised_by,
)

# the default deadline: the last day of February of Y + 1
DEADLINE = load_settings(annual_deadline_month=2, annual_deadline_day=None).annual_deadline


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- periods <-> monthly snapshots -----------------------------------------------------------
def test_monthly_snapshot_of_2024_02_01_is_the_export_for_2024_01() -> None:
    assert snapshot_for_period("2024-01") == date(2024, 2, 1)
    assert period_of(date(2024, 2, 1)) == "2024-01"


def test_december_period_rolls_into_next_year() -> None:
    assert snapshot_for_period("2023-12") == date(2024, 1, 1)
    assert period_of(date(2024, 1, 1)) == "2023-12"


def test_periods_between_is_inclusive_and_crosses_years() -> None:
    assert periods_between("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert snapshots_for_periods("2023-12", "2024-01") == [date(2024, 1, 1), date(2024, 2, 1)]


@pytest.mark.parametrize("bad", ["2024-13", "2024-1", "24-01", "2024/01", ""])
def test_malformed_period_is_rejected_with_the_expected_format(bad: str) -> None:
    with pytest.raises(PeriodError, match="YYYY-MM"):
        snapshot_for_period(bad)


def test_reversed_range_is_rejected() -> None:
    with pytest.raises(PeriodError, match="after"):
        periods_between("2024-03", "2024-01")


# --- nir_monthly -----------------------------------------------------------------------------
def test_scheduled_monthly_run_handles_the_snapshot_of_its_logical_date() -> None:
    # CronTriggerTimetable: data_interval_start == data_interval_end == logical_date.
    logical = utc(2024, 2, 1)
    assert monthly_snapshot(logical, run_after=logical) == date(2024, 2, 1)


def test_backfill_runs_match_the_periods_they_were_created_for() -> None:
    # `nir backfill` and `airflow backfill create` use the scheduled logical dates.
    for period in periods_between("2023-01", "2024-03"):
        snapshot = snapshot_for_period(period)
        logical = logical_date_for(snapshot)
        assert monthly_snapshot(logical) == snapshot
        assert period_of(monthly_snapshot(logical)) == period


def test_the_snapshot_date_is_the_date_in_norway() -> None:
    # 23:30 UTC on 31 January is already 1 February in Oslo.
    assert monthly_snapshot(utc(2024, 1, 31, 23, 30)) == date(2024, 2, 1)


def test_manual_monthly_run_mid_month_handles_the_newest_monthly_snapshot() -> None:
    assert monthly_snapshot(utc(2024, 2, 17, 12)) == date(2024, 2, 1)


def test_manual_run_without_logical_date_uses_run_after() -> None:
    assert monthly_snapshot(None, run_after=utc(2024, 3, 5, 9)) == date(2024, 3, 1)


def test_manual_snapshot_param_overrides_the_logical_date() -> None:
    assert monthly_snapshot(utc(2026, 11, 22), override="2023-05-01") == date(2023, 5, 1)


def test_monthly_override_must_be_the_first_of_a_month() -> None:
    with pytest.raises(PeriodError, match="not a monthly snapshot"):
        monthly_snapshot(utc(2024, 2, 1), override="2024-02-15")


def test_override_must_be_a_date() -> None:
    with pytest.raises(PeriodError, match="YYYY-MM-DD"):
        monthly_snapshot(utc(2024, 2, 1), override="february")


# --- nir_nightly -----------------------------------------------------------------------------
def test_nightly_run_handles_the_delivery_of_its_night() -> None:
    assert nightly_snapshot(utc(2024, 4, 3)) == date(2024, 4, 3)
    assert nightly_snapshot(utc(2024, 4, 3), override="2024-04-02") == date(2024, 4, 2)


# --- nir_annual ------------------------------------------------------------------------------
def test_final_snapshot_is_the_first_monthly_snapshot_after_the_deadline() -> None:
    assert DEADLINE(2023) == date(2024, 2, 29)  # leap year
    assert final_snapshot(2023, DEADLINE) == date(2024, 3, 1)
    assert final_snapshot(2024, DEADLINE) == date(2025, 3, 1)


def test_a_deadline_on_the_first_makes_the_next_month_final() -> None:
    # deadline 1 March: the snapshot of that same day is not after it
    assert final_snapshot(2023, lambda y: date(y + 1, 3, 1)) == date(2024, 4, 1)
    assert final_snapshot(2023, lambda y: date(y + 1, 3, 15)) == date(2024, 4, 1)


def test_only_the_final_snapshot_finalises_a_year() -> None:
    assert years_finalised_by([date(2024, 3, 1)], DEADLINE) == [2023]
    assert years_finalised_by([date(2024, 2, 1), date(2024, 4, 1)], DEADLINE) == []


def test_annual_run_triggered_by_publications_freezes_their_years() -> None:
    # several publications may be collapsed into one asset-triggered run
    years = annual_years(
        override=None,
        published_snapshots=[date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)],
        run_moment=None,
        deadline_for=DEADLINE,
    )
    assert years == [2023]


def test_annual_run_after_an_ordinary_publication_freezes_nothing() -> None:
    years = annual_years(
        override=None,
        published_snapshots=[date(2024, 5, 1)],
        run_moment=utc(2024, 5, 1),
        deadline_for=DEADLINE,
    )
    assert years == []


def test_manual_annual_run_takes_the_year_param() -> None:
    years = annual_years(
        override=2022, published_snapshots=[], run_moment=utc(2026, 1, 1), deadline_for=DEADLINE
    )
    assert years == [2022]


def test_manual_annual_run_without_param_freezes_the_newest_finalisable_year() -> None:
    def run_on(d: datetime) -> list[int]:
        return annual_years(
            override=None, published_snapshots=[], run_moment=d, deadline_for=DEADLINE
        )

    assert run_on(utc(2024, 3, 1, 6)) == [2023]
    assert run_on(utc(2024, 2, 20)) == [2022]  # 2023 is not final yet


# --- the `nir backfill` command: periods -> snapshots, checked before Airflow starts ----------
def test_backfill_command_names_the_missing_deliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from nir.cli import app

    monkeypatch.setenv("NIR_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["backfill", "--from", "2023-12", "--to", "2024-01"])
    assert result.exit_code == 2
    assert "no complete delivery for 2024-01-01, 2024-02-01" in " ".join(result.output.split())
    assert not (tmp_path / "airflow").exists()  # refused before Airflow was set up


def test_backfill_command_rejects_a_malformed_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from nir.cli import app

    monkeypatch.setenv("NIR_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["backfill", "--from", "2024-13", "--to", "2024-12"])
    assert result.exit_code == 2
    assert "YYYY-MM" in result.output
