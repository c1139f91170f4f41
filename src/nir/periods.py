"""Which delivery, period or reference year a DAG run handles: derived explicitly.

Airflow 3 cron schedules use ``CronTriggerTimetable``: a scheduled run, a manual run and a
backfill run all have ``data_interval_start == data_interval_end == logical_date`` (a manual
run may even have no logical date at all). So "last month's export" is never read from the
data interval; it is computed here, from the run's logical date (or its ``run_after`` when
there is none), unless the run carries an explicit override in its conf/params.

Dates of deliveries are local dates in Norway (the export job runs at night, Oslo time), so
a moment is converted to Europe/Oslo before its date is taken.

Vocabulary (see the export contract):

* a **snapshot** is the date of a delivery (``<landing>/<YYYY-MM-DD>/``);
* the monthly snapshot taken on the 1st of a month is the export for the **period** before
  it: snapshot 2024-02-01 is period ``2024-01``;
* figures for reference year Y become final with the first monthly snapshot after the
  annual deadline (28/29 February of Y + 1 by default): 2024-03-01 for 2023.

Nothing here knows Airflow; the DAGs pass in what their context holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from nir.errors import NirError

NORWAY = ZoneInfo("Europe/Oslo")
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(NirError, ValueError):
    """A period, snapshot or year given by a user is not valid (one line, what to do)."""


# --- periods and monthly snapshots ---------------------------------------------------------
def parse_period(value: str) -> tuple[int, int]:
    """``"2024-01"`` -> ``(2024, 1)``."""
    m = _PERIOD.match(value.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise PeriodError(f"{value!r} is not a period: write it as YYYY-MM, e.g. 2024-01")
    return int(m.group(1)), int(m.group(2))


def snapshot_for_period(period: str) -> date:
    """The monthly snapshot that exports ``period``: the 1st of the following month."""
    year, month = parse_period(period)
    return date(year + month // 12, month % 12 + 1, 1)


def period_of(snapshot: date) -> str:
    """The period a monthly snapshot exports: the month before ``snapshot``."""
    last_day = snapshot.replace(day=1) - timedelta(days=1)
    return f"{last_day.year:04d}-{last_day.month:02d}"


def periods_between(first: str, last: str) -> list[str]:
    """Every period from ``first`` to ``last`` inclusive, in order."""
    y, m = parse_period(first)
    end = parse_period(last)
    if (y, m) > end:
        raise PeriodError(f"period {first} is after {last}: give the earlier period first")
    out: list[str] = []
    while (y, m) <= end:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def snapshots_for_periods(first: str, last: str) -> list[date]:
    """The monthly snapshots for the periods ``first``..``last`` (what a backfill runs)."""
    return [snapshot_for_period(p) for p in periods_between(first, last)]


def parse_snapshot(value: str | date) -> date:
    """An ISO date (``YYYY-MM-DD``) as given in a run's conf."""
    if isinstance(value, datetime):
        return local_date(value)
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise PeriodError(f"{value!r} is not a snapshot date: write it as YYYY-MM-DD") from exc


def local_date(moment: datetime) -> date:
    """The date in Norway at ``moment`` (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(NORWAY).date()


def _run_moment(logical_date: datetime | None, run_after: datetime | None) -> datetime:
    moment = logical_date or run_after
    if moment is None:
        raise PeriodError("the run has neither a logical date nor run_after: pass a snapshot")
    return moment


def monthly_snapshot(
    logical_date: datetime | None,
    run_after: datetime | None = None,
    override: str | date | None = None,
) -> date:
    """The monthly snapshot a ``nir_monthly`` run handles.

    * an ``override`` (the ``snapshot`` param of a manual run) wins; it must be a 1st;
    * otherwise the 1st of the month of the run's logical date, in Norway: the scheduled
      run of 2024-02-01 (and a backfill run for that date) handles snapshot 2024-02-01,
      i.e. period 2024-01; a manual run on 2024-02-17 handles the newest monthly snapshot,
      2024-02-01 too.
    """
    if override:
        snapshot = parse_snapshot(override)
        if snapshot.day != 1:
            raise PeriodError(
                f"snapshot {snapshot} is not a monthly snapshot: monthly deliveries are "
                "dated the 1st (the export for period YYYY-MM is dated the 1st of the month "
                "after)"
            )
        return snapshot
    return local_date(_run_moment(logical_date, run_after)).replace(day=1)


def nightly_snapshot(
    logical_date: datetime | None,
    run_after: datetime | None = None,
    override: str | date | None = None,
) -> date:
    """The daily delivery a ``nir_nightly`` run handles: that night's, or the override."""
    if override:
        return parse_snapshot(override)
    return local_date(_run_moment(logical_date, run_after))


def logical_date_for(snapshot: date) -> datetime:
    """The logical date of the scheduled run for ``snapshot`` (midnight UTC of that day).

    ``nir_monthly`` and ``nir_nightly`` are scheduled at 00:00 UTC, so this is exactly the
    logical date a scheduled or backfill run for that delivery has.
    """
    return datetime(snapshot.year, snapshot.month, snapshot.day, tzinfo=UTC)


# --- final figures ---------------------------------------------------------------------------
def first_snapshot_after(deadline: date) -> date:
    """The first monthly snapshot taken strictly after ``deadline``."""
    nxt = deadline + timedelta(days=1)
    if nxt.day == 1:
        return nxt
    return date(nxt.year + nxt.month // 12, nxt.month % 12 + 1, 1)


def final_snapshot(year: int, deadline_for: Callable[[int], date]) -> date:
    """The monthly snapshot whose figures are final for reference year ``year``.

    ``deadline_for`` is ``Settings.annual_deadline`` (configurable deadline).
    """
    return first_snapshot_after(deadline_for(year))


def years_finalised_by(snapshots: Iterable[date], deadline_for: Callable[[int], date]) -> list[int]:
    """Reference years whose final snapshot is among ``snapshots`` (sorted, unique).

    Publishing snapshot 2024-03-01 finalises 2023 (deadline 2024-02-29); publishing any other
    snapshot of 2024 finalises nothing.
    """
    years: set[int] = set()
    for snap in snapshots:
        # the deadline of year Y lies in year Y + 1, so only Y = snap.year - 1 can qualify;
        # with a deadline late in the year, the snapshot may fall in the next year
        for year in (snap.year - 1, snap.year - 2):
            if final_snapshot(year, deadline_for) == snap:
                years.add(year)
    return sorted(years)


def latest_finalisable_year(today: date, deadline_for: Callable[[int], date]) -> int:
    """The newest reference year whose final snapshot is on or before ``today``."""
    year = today.year
    while final_snapshot(year, deadline_for) > today:
        year -= 1
    return year


def annual_years(
    *,
    override: int | str | None,
    published_snapshots: Iterable[date],
    run_moment: datetime | None,
    deadline_for: Callable[[int], date],
) -> list[int]:
    """The reference years a ``nir_annual`` run freezes.

    * ``override`` (the ``year`` param of a manual run) wins;
    * a run triggered by publications (the published-statistics asset) freezes the years
      whose final snapshot was just published: possibly none;
    * a manual run without events or override freezes the newest year whose final snapshot
      date has passed.
    """
    if override not in (None, ""):
        try:
            return [int(str(override))]
        except ValueError as exc:
            raise PeriodError(f"{override!r} is not a year: write it as YYYY") from exc
    snapshots = list(published_snapshots)
    if snapshots:
        return years_finalised_by(snapshots, deadline_for)
    if run_moment is None:
        raise PeriodError("the run has no date and no year: pass the year to freeze")
    return [latest_finalisable_year(local_date(run_moment), deadline_for)]
