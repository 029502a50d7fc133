"""IngestService on the recording fakes: what each batch becomes, what is published, what the
idempotency store is told — without Kafka or SQL (tests/integration runs it on the real parts)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from services.ingest.idempotency import ACCEPTED, REJECTED, RELEASED
from services.ingest.metrics import IngestMetrics
from services.ingest.outcomes import (
    BodyRefused,
    IngestReport,
    Judged,
    KeyInProgress,
    KeyNotRecorded,
    KeyReused,
    NotAccepted,
    Outcome,
    OutcomeUnknown,
    Replayed,
)
from services.ingest.service import IngestService
from shared.domain.event import keyed_ids
from shared.domain.observation import Observation
from shared.domain.validation import ValidRow
from shared.settings import Settings
from tests.factories import (
    LABOUR,
    NOW,
    SCHOOL,
    SHARE,
    count_row,
    csv_body,
    ingest_catalog,
    json_body,
    share_row,
    share_rows,
)
from tests.fakes import MemoryIdempotency, RecordingPublisher

SETTINGS = Settings(_env_file=None, topic_prefix="unit.", ingest_publish_timeout_seconds=3.0)
TOPIC = "unit.stadspuls.observations.v1"
KEY = "batch-2025-06-15"


class Clock:
    """A clock that moves one second each time it is read."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Rig:
    """An IngestService wired to fakes."""

    def __init__(self) -> None:
        self.publisher = RecordingPublisher()
        self.keys = MemoryIdempotency()
        self.metrics = IngestMetrics()
        self.clock = Clock()
        self.service = IngestService(
            SETTINGS, ingest_catalog(), self.publisher, self.keys, self.metrics, self.clock
        )

    def send(
        self,
        body: bytes,
        *,
        source: str = SCHOOL,
        key: str | None = None,
        csv: bool = False,
        dry_run: bool = False,
        atomic: bool = False,
    ) -> Outcome:
        """Ingest one batch."""
        return asyncio.run(
            self.ingest(body, source=source, key=key, csv=csv, dry_run=dry_run, atomic=atomic)
        )

    async def ingest(
        self,
        body: bytes,
        *,
        source: str = SCHOOL,
        key: str | None = None,
        csv: bool = False,
        dry_run: bool = False,
        atomic: bool = False,
    ) -> Outcome:
        """Ingest one batch, on the running loop."""
        return await self.service.ingest(
            source, body, csv=csv, dry_run=dry_run, atomic=atomic, idempotency_key=key
        )

    def sample(self, name: str, **labels: str) -> float:
        """A metric's value (0 when absent)."""
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def batches(self, source: str, outcome: str) -> float:
        """The batches counted with `outcome`."""
        return self.sample("stadspuls_ingest_batches_total", source=source, outcome=outcome)

    def events(self) -> list[dict[str, Any]]:
        """The acknowledged events of the canonical topic."""
        return [orjson.loads(value or b"") for _, value, _ in self.publisher.records(TOPIC)]


@pytest.fixture
def rig() -> Rig:
    return Rig()


def report(outcome: Outcome) -> IngestReport:
    assert isinstance(outcome, Judged), outcome
    return outcome.report


def test_an_accepted_batch_publishes_each_row_as_its_canonical_event(rig: Rig) -> None:
    rows = share_rows(3)
    got = report(rig.send(json_body(rows)))
    assert (got.received, got.accepted, got.rejected, got.errors, got.dry_run) == (
        3,
        3,
        0,
        [],
        False,
    )
    records = rig.publisher.records(TOPIC)
    assert [key for key, _, _ in records] == [
        f"{SHARE}|{r['area']}|{r['period']}|{r['gender']}".encode() for r in rows
    ]
    events = [Observation.model_validate_json(value or b"") for _, value, _ in records]
    assert {e.source for e in events} == {SCHOOL}
    assert {e.received_at for e in events} == {NOW + timedelta(seconds=1)}
    assert len({e.observation_id for e in events}) == 3
    assert [e.numerator for e in events] == [r["numerator"] for r in rows]
    assert rig.batches(SCHOOL, "accepted") == 1


def test_a_partial_batch_publishes_only_its_good_rows(rig: Rig) -> None:
    got = report(rig.send(json_body([share_row(), share_row(period="2024-Q5")])))
    assert (got.accepted, got.rejected) == (1, 1)
    assert [(e["row"], e["field"], e["code"]) for e in got.errors] == [(2, "period", "bad_period")]
    assert [e["period"] for e in rig.events()] == ["2024"]
    assert rig.batches(SCHOOL, "partial") == 1
    rows = "stadspuls_ingest_observations_{}_total"
    assert rig.sample(rows.format("received"), source=SCHOOL) == 2
    assert rig.sample(rows.format("accepted"), source=SCHOOL) == 1
    assert rig.sample(rows.format("rejected"), source=SCHOOL, reason="bad_period") == 1


def test_an_indicator_outside_the_sources_scope_is_a_row_error(rig: Rig) -> None:
    got = report(rig.send(json_body([count_row()])))
    assert [e["code"] for e in got.errors] == ["forbidden_indicator"]
    assert rig.publisher.attempts == []
    assert report(rig.send(json_body([count_row()]), source=LABOUR)).accepted == 1


def test_an_atomic_batch_with_a_bad_row_publishes_nothing(rig: Rig) -> None:
    got = report(rig.send(json_body([share_row(), share_row(area="atlantis")]), atomic=True))
    assert (got.accepted, got.rejected) == (0, 2)
    assert [(e["row"], e["code"]) for e in got.errors] == [
        (2, "unknown_area"),
        (0, "batch_rejected"),
    ]
    assert rig.publisher.attempts == []
    assert rig.batches(SCHOOL, "rejected") == 1


def test_a_dry_run_publishes_nothing_and_ignores_the_key(rig: Rig) -> None:
    got = report(rig.send(json_body(share_rows(2)), dry_run=True, key=KEY))
    assert (got.accepted, got.dry_run) == (2, True)
    assert rig.publisher.attempts == []
    assert rig.keys.entries == {}
    assert rig.batches(SCHOOL, "dry_run") == 1


def test_csv_errors_carry_the_line_the_record_starts_on(rig: Rig) -> None:
    body = csv_body(
        [share_row(), share_row(period="2023", comment="two\nlines"), share_row(gender="X")]
    )
    got = report(rig.send(body, csv=True))
    assert [(e["row"], e["line"], e["code"]) for e in got.errors] == [(3, 5, "bad_gender")]
    assert got.accepted == 2


def test_an_unreadable_body_is_refused_and_frees_the_key(rig: Rig) -> None:
    outcome = rig.send(b'{"observations": [', key=KEY)
    assert isinstance(outcome, BodyRefused)
    assert (outcome.error.status, outcome.error.code) == (400, "malformed_json")
    assert rig.keys.entries == {}
    assert report(rig.send(json_body([share_row()]), key=KEY)).accepted == 1
    assert rig.batches(SCHOOL, "invalid") == 1


def test_a_repeat_with_the_same_key_replays_the_first_report_and_publishes_nothing(
    rig: Rig,
) -> None:
    body = json_body([share_row(), share_row(area="atlantis")])
    first = report(rig.send(body, key=KEY))
    again = rig.send(body, key=KEY)
    assert again == Replayed(first.as_dict(), accepted=True)
    assert len(rig.publisher.attempts) == 1
    assert rig.batches(SCHOOL, "replayed") == 1


def test_a_report_without_accepted_rows_is_recorded_as_rejected(rig: Rig) -> None:
    body = json_body([share_row(area="atlantis")])
    first = report(rig.send(body, key=KEY))
    assert rig.keys.entries[(SCHOOL, KEY)].status_code == REJECTED
    assert rig.send(body, key=KEY) == Replayed(first.as_dict(), accepted=False)


def test_the_same_key_with_another_request_is_reused(rig: Rig) -> None:
    rig.send(json_body([share_row()]), key=KEY)
    assert rig.keys.entries[(SCHOOL, KEY)].status_code == ACCEPTED
    assert rig.send(json_body([share_row(period="2023")]), key=KEY) == KeyReused()
    assert rig.send(json_body([share_row()]), key=KEY, atomic=True) == KeyReused()
    assert report(rig.send(json_body([share_row()]), key=KEY, source=LABOUR)).rejected == 1


def test_a_request_holding_the_key_makes_a_repeat_wait(rig: Rig) -> None:
    body = json_body([share_row()])

    async def both() -> tuple[Outcome, Outcome]:
        rig.publisher.gate = asyncio.Event()
        first = asyncio.create_task(rig.ingest(body, key=KEY))
        for _ in range(100):  # let the first request claim the key and reach the publisher
            if rig.publisher.gate is not None and rig.keys.entries:
                break
            await asyncio.sleep(0)
        second = await rig.ingest(body, key=KEY)
        rig.publisher.gate.set()
        return await first, second

    first, second = asyncio.run(both())
    assert report(first).accepted == 1
    assert isinstance(second, KeyInProgress)
    assert 0 < second.seconds <= 15
    assert len(rig.publisher.published) == 1


def test_rows_sent_with_a_key_get_ids_derived_from_it(rig: Rig) -> None:
    rows = share_rows(3)
    rig.send(json_body(rows), key=KEY)
    valid = [ValidRow(n, "", {}) for n in (1, 2, 3)]
    assert [e["observation_id"] for e in rig.events()] == keyed_ids(SCHOOL, KEY, valid)
    rig.send(json_body(rows))
    rig.send(json_body(rows))
    assert len({e["observation_id"] for e in rig.events()}) == 9


def test_a_row_with_its_own_id_keeps_it(rig: Rig) -> None:
    own = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    rig.send(json_body([share_row(observation_id=own)]), key=KEY)
    assert [e["observation_id"] for e in rig.events()] == [own]


@pytest.mark.parametrize("keyed", [False, True])
def test_kafka_taking_nothing_is_not_accepted_and_frees_the_key(rig: Rig, keyed: bool) -> None:
    rig.publisher.fail_next("not_accepted")
    key = KEY if keyed else None
    assert rig.send(json_body([share_row()]), key=key) == NotAccepted(keyed=keyed)
    assert rig.publisher.attempts == []
    assert rig.keys.entries == {}
    assert rig.batches(SCHOOL, "unavailable") == 1
    assert report(rig.send(json_body([share_row(period="2023")]), key=key)).accepted == 1


def test_an_unknown_outcome_binds_the_key_and_its_retry_repeats_the_same_events(rig: Rig) -> None:
    body = json_body(share_rows(4))
    rig.publisher.fail_next("unknown")
    assert rig.send(body, key=KEY) == OutcomeUnknown(3.0, keyed=True)
    assert rig.keys.entries[(SCHOOL, KEY)].status_code == RELEASED
    assert rig.batches(SCHOOL, "unknown") == 1
    assert rig.send(json_body([share_row()]), key=KEY) == KeyReused()
    assert report(rig.send(body, key=KEY)).accepted == 4
    sent, acknowledged = rig.publisher.attempts
    assert sent == acknowledged  # byte for byte: same ids, same received_at, same updated_at


def test_an_unknown_outcome_without_a_key_says_so(rig: Rig) -> None:
    rig.publisher.fail_next("unknown")
    assert rig.send(json_body([share_row()])) == OutcomeUnknown(3.0, keyed=False)


def test_a_database_that_is_down_means_nothing_was_done(rig: Rig) -> None:
    rig.keys.unavailable = True
    assert rig.send(json_body([share_row()]), key=KEY) == KeyNotRecorded()
    assert rig.publisher.attempts == []
    assert rig.batches(SCHOOL, "database_unavailable") == 1
    assert report(rig.send(json_body([share_row()]))).accepted == 1  # no key: no database needed


def test_a_failure_inside_the_request_keeps_the_key_for_that_request(rig: Rig) -> None:
    body = json_body([share_row()])
    rig.publisher.fail_next(RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        rig.send(body, key=KEY)
    assert rig.keys.entries[(SCHOOL, KEY)].status_code == RELEASED
    assert rig.send(json_body([share_row(period="2023")]), key=KEY) == KeyReused()
    assert report(rig.send(body, key=KEY)).accepted == 1
