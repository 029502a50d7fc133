"""Staleness: has an indicator's newest period been waiting for a successor for too long?

Pure: no I/O; the caller passes `now`. A period ends at 00:00 UTC on its exclusive `end` date.
Stale when the newest period ended longer ago than cadence + publication lag + grace (CONTRACT).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from shared.domain.catalog import Duration
from shared.domain.observation import as_utc
from shared.domain.periods import Period, add_months


def add_duration(day: date, *durations: Duration) -> date:
    """`day` plus the durations: all months first (clamped to the month's end), then all days."""
    months = sum(d.months for d in durations)
    days = sum(d.days for d in durations)
    return add_months(day, months) + timedelta(days=days)


def stale_after(
    latest_period: Period, cadence: Duration, publication_lag: Duration, grace: Duration
) -> date:
    """The last day the indicator is still fresh; from the next day on it is stale."""
    return add_duration(latest_period.end, cadence, publication_lag, grace)


def is_stale(
    latest_period: Period,
    cadence: Duration,
    publication_lag: Duration,
    grace: Duration,
    now: date,
) -> bool:
    """True when `latest_period` ended more than cadence + lag + grace before `now`."""
    today = as_utc(now).date() if isinstance(now, datetime) else now
    return today > stale_after(latest_period, cadence, publication_lag, grace)


def period_end_at(period: Period) -> datetime:
    """The moment a period ends: 00:00 UTC on its exclusive end date."""
    return datetime.combine(period.end, time(), tzinfo=UTC)


def newest_period_age_seconds(latest_period: Period, now: datetime) -> float:
    """Seconds since `latest_period` ended; 0 while it is still running."""
    return max(0.0, (as_utc(now) - period_end_at(latest_period)).total_seconds())
