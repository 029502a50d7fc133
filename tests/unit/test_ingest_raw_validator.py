"""RawValidator.judge without Kafka: each raw message becomes its canonical event or a DLQ entry
that says why; a source's own topic names its source, the shared development topic's header does
(never in production); the publish loop retries on the recording fake until the log takes the
records."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from services.ingest.metrics import IngestMetrics
from services.ingest.ports import Record
from services.ingest.raw_validator import RawValidator
from shared.domain.event import raw_message_id
from shared.domain.observation import Observation
from shared.settings import Settings
from tests.factories import (
    JOBS,
    LABOUR,
    NOW,
    SCHOOL,
    SHARE,
    count_row,
    ingest_catalog,
    share_row,
)
from tests.fakes import UNIT_SETTINGS, RecordingPublisher

RAW = "unit.stadspuls.observations.raw.v1"
OWN = f"{RAW}.{SCHOOL}"
SENT_AT = datetime(2025, 6, 15, 11, 59, 30, 250000, tzinfo=UTC)


Message = ConsumerRecord[bytes, bytes]


def message(
    value: bytes | None,
    headers: list[tuple[str, bytes]],
    *,
    key: bytes | None = None,
    offset: int = 41,
    timestamp: int = int(SENT_AT.timestamp() * 1000),
    topic: str = RAW,
) -> Message:
    """A raw-topic message (partition 2) as the consumer hands it over."""
    size = len(value or b"")
    return ConsumerRecord(topic, 2, offset, timestamp, 0, key, value, None, 0, size, headers)


def row_message(row: dict[str, Any], source: bytes = SCHOOL.encode(), **kw: Any) -> Message:
    """A message carrying one row, from `source`."""
    return message(orjson.dumps(row), [("source", source)], **kw)


@pytest.fixture
def validator() -> RawValidator:
    return RawValidator(UNIT_SETTINGS, ingest_catalog(), RecordingPublisher(), IngestMetrics())


def dead_letter(validator: RawValidator, raw: Message) -> tuple[list[dict[str, Any]], Record]:
    """The errors and the DLQ record of a message the validator refuses."""
    ok, record = validator.judge(raw, NOW)
    assert not ok, record
    headers = dict(record[2])
    assert (record[0], record[1]) == (raw.key, raw.value)  # as received
    assert headers["origin"] == f"{raw.topic}:2:{raw.offset}".encode()
    return orjson.loads(headers["error"]), record


def test_a_valid_message_becomes_its_canonical_event(validator: RawValidator) -> None:
    ok, (key, value, headers) = validator.judge(row_message(share_row()), NOW)
    assert ok
    assert headers == []
    assert key == f"{SHARE}|rinkeby|2024|T".encode()
    event = Observation.model_validate_json(value or b"")
    assert event.source == SCHOOL
    assert event.received_at == SENT_AT  # the raw message's time, not the validator's
    assert str(event.observation_id) == raw_message_id(RAW, 2, 41)
    assert event.updated_at == datetime(2025, 2, 1, 8, tzinfo=UTC)


def test_a_redelivered_message_is_the_same_event_byte_for_byte(validator: RawValidator) -> None:
    first = validator.judge(row_message(share_row()), NOW)
    again = validator.judge(row_message(share_row()), NOW + timedelta(minutes=3))
    other = validator.judge(row_message(share_row(), offset=42), NOW)
    assert first == again
    ids = [orjson.loads(judged[1][1] or b"")["observation_id"] for judged in (first, other)]
    assert ids == [raw_message_id(RAW, 2, 41), raw_message_id(RAW, 2, 42)]
    assert ids[0] != ids[1]


def test_a_message_without_a_timestamp_is_received_now(validator: RawValidator) -> None:
    ok, (_, value, _) = validator.judge(row_message(share_row(updated_at=None), timestamp=-1), NOW)
    event = orjson.loads(value or b"")
    assert ok
    assert event["received_at"] == event["updated_at"] == "2025-06-15T12:00:00Z"


def test_a_message_with_its_own_id_keeps_it(validator: RawValidator) -> None:
    own = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    ok, (_, value, _) = validator.judge(row_message(share_row(observation_id=own)), NOW)
    assert ok
    assert orjson.loads(value or b"")["observation_id"] == own


def test_a_message_without_a_source_header_is_dead_lettered(validator: RawValidator) -> None:
    raw = message(orjson.dumps(share_row()), [("trace", b"abc"), ("error", b"forged")], key=b"k")
    errors, (_, _, headers) = dead_letter(validator, raw)
    assert [e["code"] for e in errors] == ["missing_source"]
    names = [name for name, _ in headers]
    assert names == ["trace", "error", "source", "origin"]  # the sender's `error` is replaced
    assert dict(headers)["source"] == b""


def test_an_unknown_source_is_dead_lettered_and_counted_as_unknown(validator: RawValidator) -> None:
    errors, _ = dead_letter(validator, row_message(share_row(), source=b"nobody"))
    assert [(e["code"], e["field"]) for e in errors] == [("unknown_source", None)]
    rejected = validator.metrics.registry.get_sample_value(
        "stadspuls_ingest_observations_rejected_total",
        {"source": "unknown", "reason": "unknown_source"},
    )
    assert rejected == 1


@pytest.mark.parametrize("value", [b'{"indicator": ', b"", None])
def test_a_value_that_is_not_json_is_dead_lettered(
    validator: RawValidator, value: bytes | None
) -> None:
    errors, _ = dead_letter(validator, message(value, [("source", SCHOOL.encode())]))
    assert [e["code"] for e in errors] == ["malformed_message"]
    assert errors[0]["message"].startswith("line 1, column ")


def test_a_bad_row_is_dead_lettered_with_every_error(validator: RawValidator) -> None:
    errors, _ = dead_letter(validator, row_message(share_row(area="atlantis", gender="X")))
    assert {(e["field"], e["code"]) for e in errors} == {
        ("area", "unknown_area"),
        ("gender", "bad_gender"),
    }
    forbidden, _ = dead_letter(validator, row_message(count_row()))
    assert [e["code"] for e in forbidden] == ["forbidden_indicator"]
    assert validator.judge(row_message(count_row(), source=LABOUR.encode()), NOW)[0]


def test_rows_are_judged_against_the_clock_of_their_poll(validator: RawValidator) -> None:
    raw = row_message(share_row(updated_at="2025-06-15T12:10:00Z"))
    errors, _ = dead_letter(validator, raw)
    assert [e["code"] for e in errors] == ["future_timestamp"]
    assert validator.judge(raw, NOW + timedelta(minutes=6))[0]
    errors, _ = dead_letter(validator, raw)  # a later poll at an earlier clock judges afresh
    assert [e["code"] for e in errors] == ["future_timestamp"]


def test_publishing_retries_until_the_log_takes_both_topics(validator: RawValidator) -> None:
    publisher = validator.publisher
    assert isinstance(publisher, RecordingPublisher)
    publisher.fail_next("not_accepted")
    forward = [validator.judge(row_message(share_row()), NOW)[1]]
    dead = [validator.judge(message(b"?", []), NOW)[1]]

    async def publish() -> bool:
        return await validator._publish(forward, dead, asyncio.Event())

    assert asyncio.run(publish())
    assert publisher.records(validator.canonical) == forward
    assert publisher.records(validator.dlq) == dead


def test_a_source_topic_names_the_source_without_a_header(validator: RawValidator) -> None:
    for headers in ([], [("source", SCHOOL.encode())]):
        ok, (_, value, _) = validator.judge(
            message(orjson.dumps(share_row()), headers, topic=OWN), NOW
        )
        assert ok
        event = Observation.model_validate_json(value or b"")
        assert event.source == SCHOOL
        assert str(event.observation_id) == raw_message_id(OWN, 2, 41)


def test_a_header_naming_another_source_than_the_topic_is_dead_lettered(
    validator: RawValidator,
) -> None:
    # LABOUR may report JOBS; written to SCHOOL's topic with LABOUR's name it is still refused.
    raw = message(orjson.dumps(count_row()), [("source", LABOUR.encode())], topic=OWN)
    errors, (_, _, headers) = dead_letter(validator, raw)
    assert [(e["code"], e["field"]) for e in errors] == [("source_mismatch", "source")]
    assert repr(LABOUR) in errors[0]["message"]
    assert repr(SCHOOL) in errors[0]["message"]
    assert dict(headers)["source"] == SCHOOL.encode()  # who wrote it, as Kafka says
    rejected = validator.metrics.registry.get_sample_value(
        "stadspuls_ingest_observations_rejected_total",
        {"source": SCHOOL, "reason": "source_mismatch"},
    )
    assert rejected == 1


def test_an_indicator_outside_the_topic_source_s_scope_is_forbidden(
    validator: RawValidator,
) -> None:
    errors, _ = dead_letter(validator, message(orjson.dumps(count_row()), [], topic=OWN))
    assert [e["code"] for e in errors] == ["forbidden_indicator"]
    labour = message(orjson.dumps(count_row()), [], topic=f"{RAW}.{LABOUR}")
    ok, (_, value, _) = validator.judge(labour, NOW)
    assert ok
    assert orjson.loads(value or b"")["indicator"] == JOBS


def test_a_topic_of_no_catalog_source_is_dead_lettered(validator: RawValidator) -> None:
    raw = message(orjson.dumps(share_row()), [("source", SCHOOL.encode())], topic=f"{RAW}.nobody")
    errors, (_, _, headers) = dead_letter(validator, raw)
    assert [(e["code"], e["field"]) for e in errors] == [("unknown_source", None)]
    assert f"{RAW}.nobody" in errors[0]["message"]
    assert dict(headers)["source"] == b"nobody"  # what the topic says, for whoever reads the DLQ


def test_production_refuses_the_shared_topic() -> None:
    production = Settings(_env_file=None, topic_prefix="unit.", environment="production")
    validator = RawValidator(production, ingest_catalog(), RecordingPublisher(), IngestMetrics())
    errors, _ = dead_letter(validator, row_message(share_row()))
    assert [e["code"] for e in errors] == ["unknown_source"]
    assert validator.judge(message(orjson.dumps(share_row()), [], topic=OWN), NOW)[0]
