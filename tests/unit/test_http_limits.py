"""The report of connections refused at the limit: one line at once, then at most one a period."""

from __future__ import annotations

from shared.http_limits import RefusalLog
from shared.http_server import open_files_needed


def test_the_first_refusal_is_reported_at_once_and_the_rest_held_back() -> None:
    log = RefusalLog(limit=1000, every=60)
    first = log.refused(now=100.0)
    assert first is not None
    assert "connection limit reached" in first
    assert "STADSPULS_HTTP_MAX_CONNECTIONS=1000" in first
    assert [log.refused(now=100.0 + i) for i in range(1, 50)] == [None] * 49
    assert log.due(now=160.0) == (
        "connection limit still reached: 49 more connections answered 503 in the last 60 s"
    )


def test_a_quiet_period_without_refusals_ends_the_report() -> None:
    log = RefusalLog(limit=3, every=60)
    assert log.refused(now=0.0) is not None
    assert log.due(now=60.0) is None  # nothing held back: no line, and the quiet period is over
    assert log.refused(now=61.0) is not None  # a new episode is reported at once
    assert log.refused(now=62.0) is None


def test_refusals_held_back_are_counted_even_when_their_report_comes_late() -> None:
    log = RefusalLog(limit=3, every=60)
    assert log.refused(now=0.0) is not None
    assert log.refused(now=30.0) is None
    # the period ended at 60 but its report has not run yet: this refusal carries it
    assert log.refused(now=61.0) == (
        "connection limit still reached: 2 more connections answered 503 in the last 60 s"
    )
    assert log.due(now=121.0) is None


def test_the_open_files_needed_cover_the_connections_and_their_refusals() -> None:
    assert open_files_needed(1000) == 2256
