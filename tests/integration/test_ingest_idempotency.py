"""The idempotency store on SQLite and PostgreSQL: owned claims, the lease, keys bound after a failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.ingest.idempotency import Claimed, IdempotencyStore, InProgress, Replay, Reused
from shared.db.engine import make_engine, upgrade

T0 = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
LEASE = timedelta(seconds=15)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _store(db_url: str) -> IdempotencyStore:
    upgrade(db_url)
    return IdempotencyStore(make_engine(db_url), ttl=timedelta(hours=1), lease=LEASE)


def test_a_claim_is_its_owners_until_the_lease_lapses(db_url: str) -> None:
    store = _store(db_url)
    first = store.claim("s", "k", "h1", T0)
    assert first == Claimed(T0, received_at=T0)
    assert store.claim("s", "k", "h1", _at(5)) == InProgress(10.0)
    assert store.claim("s", "k", "h2", _at(5)) == Reused()
    taken = store.claim("s", "k", "h1", _at(16))  # the first request died, or could not release
    assert taken == Claimed(_at(16), received_at=T0)  # its events repeat the first attempt's
    # The first owner, late, changes nothing: the claim is no longer its own.
    store.complete("s", "k", first.token, 202, {"batch_id": "late"}, _at(17))
    store.release("s", "k", first.token, _at(17), bound=False)
    assert store.claim("s", "k", "h1", _at(18)) == InProgress(13.0)
    store.complete("s", "k", taken.token, 202, {"batch_id": "b"}, _at(19))
    assert store.claim("s", "k", "h1", _at(20)) == Replay(202, {"batch_id": "b"})


def test_a_key_released_after_an_unknown_outcome_stays_bound_to_its_request(db_url: str) -> None:
    store = _store(db_url)
    claim = store.claim("s", "k", "h1", T0)
    assert isinstance(claim, Claimed)
    store.release("s", "k", claim.token, _at(1), bound=True)
    assert store.claim("s", "k", "h2", _at(2)) == Reused()
    retry = store.claim("s", "k", "h1", _at(2))
    assert retry == Claimed(_at(2), received_at=T0)
    assert store.claim("s", "k", "h1", _at(3)) == InProgress(14.0)


def test_a_key_released_when_nothing_was_sent_is_free_for_any_request(db_url: str) -> None:
    store = _store(db_url)
    claim = store.claim("s", "k", "h1", T0)
    assert isinstance(claim, Claimed)
    store.release("s", "k", claim.token, _at(1), bound=False)
    assert store.claim("s", "k", "h2", _at(2)) == Claimed(_at(2), received_at=_at(2))
