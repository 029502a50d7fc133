"""How long a status waits for its series: the writer's StatusLag, batch by batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.aggregate.writer import Applied, StatusLag

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _batch(seconds: float, projected: bool) -> Applied:
    return Applied(committed_at=T0 + timedelta(seconds=seconds), projected=projected)


def test_a_status_projected_in_its_own_batch_waits_nothing() -> None:
    lag = StatusLag()
    assert lag.after_batch(_batch(0, projected=True), pending=set()) == 0.0


def test_the_lag_runs_from_the_oldest_unprojected_change_to_the_projection() -> None:
    lag = StatusLag()
    assert lag.after_batch(_batch(0.0, projected=False), pending={"a"}) is None
    assert lag.after_batch(_batch(0.4, projected=False), pending={"a", "b"}) is None
    assert lag.after_batch(_batch(1.1, projected=True), pending=set()) == 1.1
    # nothing pending any more: the next projection ends no wait
    assert lag.after_batch(_batch(2.5, projected=True), pending=set()) == 0.0


def test_an_idle_flush_ends_the_wait_and_a_batch_without_status_changes_starts_none() -> None:
    lag = StatusLag()
    assert lag.after_batch(_batch(0.0, projected=False), pending=set()) is None
    assert lag.projected(T0 + timedelta(seconds=3)) == 0.0
    lag.after_batch(_batch(5.0, projected=False), pending={"a"})
    assert lag.projected(T0 + timedelta(seconds=5.25)) == 0.25
