"""IngestService's Idempotency-Keys on the fakes: replays, reuse, a key in progress, and what a
failure leaves of a key — without Kafka or SQL (tests/integration/test_ingest_idempotency.py and
test_ingest_faults.py run the real store)."""

from __future__ import annotations

import asyncio

import pytest

from services.ingest.idempotency import ACCEPTED, REJECTED, RELEASED
from services.ingest.outcomes import (
    BatchOutcome,
    Judged,
    KeyInProgress,
    KeyNotRecorded,
    KeyReused,
    OutcomeUnknown,
    Replayed,
)
from shared.domain.event import keyed_ids
from shared.domain.validation import ValidRow
from tests.factories import LABOUR, SCHOOL, json_body, share_row, share_rows
from tests.fakes import IngestRig

KEY = "batch-2025-06-15"


@pytest.fixture
def rig() -> IngestRig:
    return IngestRig()


def test_a_repeat_with_the_same_key_replays_the_first_report_and_publishes_nothing(
    rig: IngestRig,
) -> None:
    body = json_body([share_row(), share_row(area="atlantis")])
    first = rig.judged(body, key=KEY)
    again = rig.send(body, key=KEY)
    assert again == Replayed(first.as_dict(), accepted=True)
    assert len(rig.publisher.attempts) == 1
    assert rig.batches(SCHOOL, "replayed") == 1


def test_a_report_without_accepted_rows_is_recorded_as_rejected(rig: IngestRig) -> None:
    body = json_body([share_row(area="atlantis")])
    first = rig.judged(body, key=KEY)
    assert rig.keys.entries[(SCHOOL, KEY)].status_code == REJECTED
    assert rig.send(body, key=KEY) == Replayed(first.as_dict(), accepted=False)


def test_the_same_key_with_another_request_is_reused(rig: IngestRig) -> None:
    rig.send(json_body([share_row()]), key=KEY)
    assert rig.keys.entries[(SCHOOL, KEY)].status_code == ACCEPTED
    assert rig.send(json_body([share_row(period="2023")]), key=KEY) == KeyReused()
    assert rig.send(json_body([share_row()]), key=KEY, atomic=True) == KeyReused()
    assert rig.judged(json_body([share_row()]), key=KEY, source=LABOUR).rejected == 1


def test_a_request_holding_the_key_makes_a_repeat_wait(rig: IngestRig) -> None:
    body = json_body([share_row()])

    async def both() -> tuple[BatchOutcome, BatchOutcome]:
        rig.publisher.gate = asyncio.Event()
        first = asyncio.create_task(rig.ingest(body, key=KEY))
        for _ in range(100):  # let the first request claim the key (it then waits at the gate)
            if rig.keys.entries:
                break
            await asyncio.sleep(0)
        second = await rig.ingest(body, key=KEY)
        rig.publisher.gate.set()
        return await first, second

    first, second = asyncio.run(both())
    assert isinstance(first, Judged)
    assert first.report.accepted == 1
    assert isinstance(second, KeyInProgress)
    assert 0 < second.seconds <= 15
    assert len(rig.publisher.published) == 1


def test_rows_sent_with_a_key_get_ids_derived_from_it(rig: IngestRig) -> None:
    rows = share_rows(3)
    rig.send(json_body(rows), key=KEY)
    valid = [ValidRow(n, "", {}) for n in (1, 2, 3)]
    assert [e["observation_id"] for e in rig.events()] == keyed_ids(SCHOOL, KEY, valid)
    rig.send(json_body(rows))
    rig.send(json_body(rows))
    assert len({e["observation_id"] for e in rig.events()}) == 9


def test_an_unknown_outcome_binds_the_key_and_its_retry_repeats_the_same_events(
    rig: IngestRig,
) -> None:
    body = json_body(share_rows(4))
    rig.publisher.fail_next("unknown")
    assert rig.send(body, key=KEY) == OutcomeUnknown(3.0, keyed=True)
    assert rig.keys.entries[(SCHOOL, KEY)].status_code == RELEASED
    assert rig.batches(SCHOOL, "unknown") == 1
    assert rig.send(json_body([share_row()]), key=KEY) == KeyReused()
    assert rig.judged(body, key=KEY).accepted == 4
    sent, acknowledged = rig.publisher.attempts
    assert sent == acknowledged  # byte for byte: same ids, same received_at, same updated_at


def test_a_database_that_is_down_means_nothing_was_done(rig: IngestRig) -> None:
    rig.keys.unavailable = True
    assert rig.send(json_body([share_row()]), key=KEY) == KeyNotRecorded()
    assert rig.publisher.attempts == []
    assert rig.batches(SCHOOL, "database_unavailable") == 1
    assert rig.judged(json_body([share_row()])).accepted == 1  # no key: no database needed


def test_a_failure_inside_the_request_keeps_the_key_for_that_request(rig: IngestRig) -> None:
    body = json_body([share_row()])
    rig.publisher.fail_next(RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        rig.send(body, key=KEY)
    assert rig.keys.entries[(SCHOOL, KEY)].status_code == RELEASED
    assert rig.send(json_body([share_row(period="2023")]), key=KEY) == KeyReused()
    assert rig.judged(body, key=KEY).accepted == 1
