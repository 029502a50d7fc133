"""Staleness: the newest period's age against cadence + publication lag + grace."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.catalog import Duration
from shared.domain.periods import parse_period
from shared.domain.staleness import (
    add_duration,
    is_stale,
    newest_period_age_seconds,
    period_end_at,
    stale_after,
)

P1Y, P1M, P2M, P30D, P10D, NONE = (
    Duration.parse(t) for t in ("P1Y", "P1M", "P2M", "P30D", "P10D", "P0D")
)


@pytest.mark.parametrize(
    ("period", "cadence", "lag", "grace", "last_fresh_day"),
    [
        # 2024 ends 2025-01-01; + 1 year → 2026-01-01; + 2 months → 2026-03-01; + 30 days → 03-31.
        ("2024", P1Y, P2M, P30D, date(2026, 3, 31)),
        # 2025-01 ends 2025-02-01; + 1 month → 03-01; + 10 days → 03-11.
        ("2025-01", P1M, NONE, P10D, date(2025, 3, 11)),
        # HT 2024 ends 2025-01-01; a term cadence is six months → 2025-07-01, no lag, no grace.
        ("2024-HT", Duration(months=6), NONE, NONE, date(2025, 7, 1)),
        # 2024-T3 ends 2025-01-01; four months → 05-01, one month lag → 06-01, 30 days → 07-01.
        ("2024-T3", Duration(months=4), P1M, P30D, date(2025, 7, 1)),
        # Q4 2023 ends 2024-01-01; + 3 months → 04-01; + 29 days → 04-30 (months before days).
        ("2023-Q4", Duration(months=3), NONE, Duration(days=29), date(2024, 4, 30)),
    ],
)
def test_stale_from_the_day_after_cadence_lag_and_grace(
    period: str, cadence: Duration, lag: Duration, grace: Duration, last_fresh_day: date
) -> None:
    latest = parse_period(period)
    assert stale_after(latest, cadence, lag, grace) == last_fresh_day
    assert not is_stale(latest, cadence, lag, grace, last_fresh_day)
    assert is_stale(latest, cadence, lag, grace, last_fresh_day + timedelta(days=1))
    assert not is_stale(latest, cadence, lag, grace, latest.start)


def test_datetimes_are_accepted_as_now_and_read_in_utc() -> None:
    latest = parse_period("2024")
    # 00:30 on 1 April in Stockholm (UTC+2) is still 31 March in UTC: fresh.
    spring = timezone(timedelta(hours=2))
    assert not is_stale(latest, P1Y, P2M, P30D, datetime(2026, 4, 1, 0, 30, tzinfo=spring))
    assert is_stale(latest, P1Y, P2M, P30D, datetime(2026, 4, 1, 2, 30, tzinfo=spring))
    assert is_stale(latest, P1Y, P2M, P30D, datetime(2026, 4, 1, 0, 0))  # naive = UTC


def test_age_counts_from_the_end_of_the_period() -> None:
    latest = parse_period("2024-12")
    assert period_end_at(latest) == datetime(2025, 1, 1, tzinfo=UTC)
    assert newest_period_age_seconds(latest, datetime(2025, 1, 2, tzinfo=UTC)) == 86_400
    assert newest_period_age_seconds(latest, datetime(2025, 1, 1, 1, 0)) == 3_600  # naive = UTC
    plus_one = timezone(timedelta(hours=1))
    assert newest_period_age_seconds(latest, datetime(2025, 1, 1, 1, 0, tzinfo=plus_one)) == 0
    assert newest_period_age_seconds(latest, datetime(2024, 12, 15, tzinfo=UTC)) == 0


def test_add_duration_adds_months_then_days_with_clamping() -> None:
    assert add_duration(date(2024, 1, 31), P1M) == date(2024, 2, 29)
    assert add_duration(date(2024, 1, 31), P1M, P1M) == date(2024, 3, 31)
    assert add_duration(date(2024, 1, 1), P1Y, P30D) == date(2025, 1, 31)
    assert add_duration(date(2024, 1, 1)) == date(2024, 1, 1)


DURATIONS = st.builds(Duration, months=st.integers(0, 36), days=st.integers(0, 400))
PERIODS = st.sampled_from(["2020", "2021-T2", "2022-Q4", "2023-07", "2024-VT", "2024-HT"])


@given(PERIODS, DURATIONS, DURATIONS, DURATIONS, st.dates(date(2019, 1, 1), date(2032, 1, 1)))
def test_stale_is_monotone_in_time_and_in_allowance(
    text: str, cadence: Duration, lag: Duration, grace: Duration, now: date
) -> None:
    latest = parse_period(text)
    stale = is_stale(latest, cadence, lag, grace, now)
    if stale:
        assert is_stale(latest, cadence, lag, grace, now + timedelta(days=1))
    more_grace = Duration(months=grace.months, days=grace.days + 1)
    if is_stale(latest, cadence, lag, more_grace, now):
        assert stale
    # Stale means the period ended more than the allowance ago, never before it ended.
    if stale:
        assert now >= latest.end
        age = datetime.combine(now, datetime.min.time(), tzinfo=UTC)
        assert newest_period_age_seconds(latest, age) > 0
