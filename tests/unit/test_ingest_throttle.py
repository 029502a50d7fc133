"""Per-source abuse limits: the token bucket on an injected clock, budgets, overrides, refusals."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.ingest.throttle import (
    REQUESTS,
    ROWS,
    SourceThrottle,
    TokenBucket,
    source_throttle,
)
from shared.production import RefusedToStartError
from shared.settings import Settings
from tests.factories import LABOUR, SCHOOL, ingest_catalog


class Clock:
    """Seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_starts_with_a_minutes_budget_and_refills_at_that_rate() -> None:
    bucket = TokenBucket(60, now=0.0)
    assert bucket.take(60, 0.0) == 0.0
    assert bucket.take(1, 0.0) == pytest.approx(1.0)
    assert bucket.take(1, 0.5) == pytest.approx(0.5)  # refused: nothing was taken
    assert bucket.take(1, 1.0) == 0.0
    assert bucket.take(30, 1.0) == pytest.approx(30.0)


def test_a_bucket_never_holds_more_than_a_minutes_budget() -> None:
    bucket = TokenBucket(120, now=0.0)
    assert bucket.take(100, 0.0) == 0.0
    assert bucket.take(120, 3600.0) == 0.0  # an idle hour refills to 120, not 7 200
    assert bucket.take(1, 3600.0) == pytest.approx(0.5)


def test_the_wait_is_until_the_whole_batch_fits() -> None:
    bucket = TokenBucket(600, now=0.0)  # 10 rows a second
    assert bucket.take(590, 0.0) == 0.0
    assert bucket.take(400, 0.0) == pytest.approx(39.0)  # 10 there, 390 more at 10/s


def test_sources_have_buckets_of_their_own() -> None:
    clock = Clock()
    throttle = SourceThrottle({}, {REQUESTS: 2, ROWS: 0}, clock)
    assert throttle.request(SCHOOL) is None
    assert throttle.request(SCHOOL) is None
    refused = throttle.request(SCHOOL)
    assert refused is not None
    assert (refused.source, refused.limit, refused.per_minute) == (SCHOOL, REQUESTS, 2)
    assert refused.retry_after == pytest.approx(30.0)
    assert refused.retry_after_header == "30"
    assert throttle.request(LABOUR) is None  # the other source is untouched
    clock.now += 30
    assert throttle.request(SCHOOL) is None


def test_zero_is_no_limit_and_overrides_replace_the_default_per_field() -> None:
    budgets = {LABOUR: {ROWS: 100}}
    throttle = SourceThrottle(budgets, {REQUESTS: 0, ROWS: 10}, Clock())
    assert all(throttle.request(SCHOOL) is None for _ in range(10_000))
    assert throttle.budget(LABOUR, ROWS) == 100
    assert throttle.budget(LABOUR, REQUESTS) == 0
    assert throttle.rows(LABOUR, 100) is None
    assert throttle.rows(SCHOOL, 10) is None
    assert throttle.rows(SCHOOL, 1) is not None


def test_a_batch_larger_than_a_minutes_budget_can_never_fit() -> None:
    throttle = SourceThrottle({}, {REQUESTS: 0, ROWS: 1000}, Clock())
    never = throttle.rows(SCHOOL, 1001)
    assert never is not None
    assert (never.retry_after, never.asked, never.per_minute) == (None, 1001, 1000)
    assert throttle.rows(SCHOOL, 1000) is None  # the refusal took nothing


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    clock = Clock()
    throttle = SourceThrottle({}, {REQUESTS: 6000, ROWS: 0}, clock)  # 100 a second
    for _ in range(6000):
        assert throttle.request(SCHOOL) is None
    refused = throttle.request(SCHOOL)
    assert refused is not None
    assert refused.retry_after == pytest.approx(0.01)
    assert refused.retry_after_header == "1"


def test_settings_give_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STADSPULS_INGEST_ROWS_PER_MINUTE", "500")
    monkeypatch.setenv(
        "STADSPULS_INGEST_SOURCE_LIMITS", f'{{"{LABOUR}": {{"requests_per_minute": 3}}}}'
    )
    throttle = source_throttle(Settings(), ingest_catalog())
    assert throttle.budget(SCHOOL, REQUESTS) == Settings().ingest_requests_per_minute
    assert throttle.budget(LABOUR, REQUESTS) == 3
    assert throttle.budget(LABOUR, ROWS) == 500


def test_an_override_with_an_unknown_field_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STADSPULS_INGEST_SOURCE_LIMITS", f'{{"{LABOUR}": {{"rows": 3}}}}')
    with pytest.raises(ValidationError, match=rf"ingest_source_limits\.{LABOUR}\.rows"):
        Settings()
    monkeypatch.setenv(
        "STADSPULS_INGEST_SOURCE_LIMITS", f'{{"{LABOUR}": {{"rows_per_minute": -1}}}}'
    )
    with pytest.raises(ValidationError, match="rows_per_minute"):
        Settings()


def test_an_override_for_a_source_the_catalog_lacks_is_refused_naming_it() -> None:
    settings = Settings(ingest_source_limits={"no-such-source": {"requests_per_minute": 1}})
    with pytest.raises(RefusedToStartError, match="STADSPULS_INGEST_SOURCE_LIMITS") as raised:
        source_throttle(settings, ingest_catalog())
    assert raised.value.problems == ["'no-such-source' is not a catalog source"]


def _shared(path: Path, clock: Clock, **limits: int) -> SourceThrottle:
    """A worker's throttle over the replica's budgets file `path`."""
    settings = Settings(ingest_requests_per_minute=0, ingest_rows_per_minute=0, **limits)
    return source_throttle(settings, ingest_catalog(), clock, shared=path)


def test_the_workers_of_a_replica_take_from_one_budget(tmp_path: Path) -> None:
    clock = Clock()
    first, second = (
        _shared(tmp_path / "budgets", clock, ingest_source_limits={SCHOOL: {"rows_per_minute": 60}})
        for _ in range(2)
    )
    assert first.rows(SCHOOL, 40) is None
    refused = second.rows(SCHOOL, 40)  # 20 left: the other worker took 40
    assert refused is not None
    assert refused.retry_after == pytest.approx(20.0)
    clock.now += 20.0
    assert second.rows(SCHOOL, 40) is None  # refilled at 1 a second, whoever took
    assert first.rows(SCHOOL, 1) is not None
    assert first.rows(LABOUR, 1000) is None  # no budget: unlimited, as before


def test_a_shared_bucket_is_refilled_and_capped_as_a_private_one(tmp_path: Path) -> None:
    clock = Clock()
    limits = {"ingest_source_limits": {SCHOOL: {"requests_per_minute": 120}}}
    shared, private = (
        _shared(tmp_path / "budgets", clock, **limits),
        SourceThrottle({SCHOOL: {REQUESTS: 120}}, {REQUESTS: 0, ROWS: 0}, clock),
    )
    for step in (0.0, 0.25, 0.0, 3600.0, 0.0, 0.0, 0.5):
        clock.now += step
        for _ in range(40):
            mine, theirs = shared.request(SCHOOL), private.request(SCHOOL)
            assert (mine is None) == (theirs is None)
            if mine is not None and theirs is not None:
                assert mine.retry_after == pytest.approx(theirs.retry_after)


def _take_rows(path: str, takes: int, granted: Any) -> None:
    throttle = _shared(
        Path(path), Clock(), ingest_source_limits={SCHOOL: {"rows_per_minute": 1_000_000}}
    )
    for _ in range(takes):
        if throttle.rows(SCHOOL, 1000) is None:
            with granted.get_lock():
                granted.value += 1


def test_processes_taking_at_once_never_take_more_than_the_budget(tmp_path: Path) -> None:
    # A frozen clock: the budget (1 000 takes of 1 000 rows) never refills, so four processes
    # taking 400 times each must be granted exactly 1 000 between them, if the lock holds.
    context = multiprocessing.get_context("fork")
    granted = context.Value("i", 0)
    workers = [
        context.Process(target=_take_rows, args=(str(tmp_path / "budgets"), 400, granted))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert granted.value == 1000
