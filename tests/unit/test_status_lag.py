"""How long a status waits for its series: the writer's StatusLag, batch by batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.aggregate.writer import Applied, StatusLag

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _batch(seconds: float, projected: float | None = None) -> Applied:
    """A batch committed at T0 + seconds, followed by a projection committed `projected` s later."""
    at = T0 + timedelta(seconds=seconds)
    return Applied(
        committed_at=at,
        projected_at=None if projected is None else at + timedelta(seconds=projected),
    )


def test_a_status_projected_right_after_its_batch_waits_for_that_projection_only() -> None:
    lag = StatusLag()
    assert lag.after_batch(_batch(0, projected=0.125), pending=set()) == 0.125


def test_the_lag_runs_from_the_oldest_unprojected_change_to_the_projection() -> None:
    lag = StatusLag()
    assert lag.after_batch(_batch(0.0), pending={"a"}) is None
    assert lag.after_batch(_batch(0.4), pending={"a", "b"}) is None
    assert lag.after_batch(_batch(1.0, projected=0.25), pending=set()) == 1.25
    # nothing pending any more: the next projection ends only its own batch's wait
    assert lag.after_batch(_batch(2.5, projected=0.5), pending=set()) == 0.5


def test_an_idle_flush_ends_the_wait_and_a_batch_without_status_changes_starts_none() -> None:
    lag = StatusLag()
    assert lag.after_batch(_batch(0.0), pending=set()) is None
    assert lag.projected(T0 + timedelta(seconds=3)) == 0.0
    lag.after_batch(_batch(5.0), pending={"a"})
    assert lag.projected(T0 + timedelta(seconds=5.25)) == 0.25
