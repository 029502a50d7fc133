"""The canonical event and its derived ids are the wire format: the same bytes and ids as every
earlier release wrote (a retry across an upgrade must still repeat its first attempt exactly)."""

from __future__ import annotations

from typing import Any

from shared.domain.event import encode_event, encode_events, event_of, keyed_ids, raw_message_id
from shared.domain.observation import Observation
from shared.domain.validation import Scopes, ValidRow, validate_row
from tests.factories import NOW, SCHOOL, SHARE, ingest_catalog, share_row

SERIES = f"{SHARE}|rinkeby|2024|T"
FIELDS: dict[str, Any] = {
    "indicator": SHARE,
    "area": "rinkeby",
    "period": "2024",
    "gender": "T",
    "status": "final",
    "retract": False,
    "value": 71.33,
    "numerator": 214.0,
    "denominator": 300.0,
}


def test_a_valid_row_is_encoded_as_it_always_was() -> None:
    key, value = encode_event(ValidRow(2, SERIES, FIELDS), SCHOOL, "2025-06-15T12:00:00Z", "x")
    assert key == SERIES.encode()
    assert value == (
        b'{"schema":"observation.v1","observation_id":"x","source":"utbildningsforvaltningen",'
        b'"received_at":"2025-06-15T12:00:00Z","indicator":"behorighet-gymnasiet-ak9",'
        b'"area":"rinkeby","period":"2024","gender":"T","status":"final","retract":false,'
        b'"value":71.33,"numerator":214.0,"denominator":300.0,"updated_at":"2025-06-15T12:00:00Z"}'
    )


def test_the_rows_own_id_and_update_time_win() -> None:
    own = {**FIELDS, "observation_id": "own", "updated_at": "2025-02-01T08:00:00Z"}
    event = event_of(ValidRow(1, SERIES, own), SCHOOL, "2025-06-15T12:00:00Z", "given")
    assert list(event)[:5] == ["schema", "observation_id", "source", "received_at", "indicator"]
    assert (event["observation_id"], event["updated_at"]) == ("own", "2025-02-01T08:00:00Z")


def test_no_field_of_a_row_says_who_sent_it_or_when() -> None:
    forged = {**FIELDS, "source": "someone-else", "received_at": "2000-01-01T00:00:00Z"}
    event = event_of(
        ValidRow(1, SERIES, forged | {"schema": "x"}), SCHOOL, "2025-06-15T12:00:00Z", "id"
    )
    assert (event["source"], event["received_at"]) == (SCHOOL, "2025-06-15T12:00:00Z")
    assert event["schema"] != "x"
    assert list(event)[:4] == ["schema", "observation_id", "source", "received_at"]


def test_derived_ids_are_the_ones_earlier_releases_derived() -> None:
    rows = [ValidRow(2, SERIES, FIELDS)]
    assert keyed_ids(SCHOOL, "batch-1", rows) == ["4265e2fb-443f-5c55-a8ff-78aa3ab5b4a6"]
    assert raw_message_id("stadspuls.observations.raw.v1", 2, 41) == (
        "215a7ebd-bf9b-54fc-bf51-1d875a31a043"
    )
    assert keyed_ids(SCHOOL, "batch-2", rows) != keyed_ids(SCHOOL, "batch-1", rows)
    assert keyed_ids("other", "batch-1", rows) != keyed_ids(SCHOOL, "batch-1", rows)


def test_the_event_of_a_validated_row_is_an_observation() -> None:
    scope = Scopes(ingest_catalog())(SCHOOL, NOW)
    row = validate_row(share_row(comment="revised"), scope, 1)
    assert isinstance(row, ValidRow)
    _, value = encode_event(row, SCHOOL, "2025-06-15T12:00:00Z", raw_message_id("t", 0, 0))
    observation = Observation.model_validate_json(value)
    assert (observation.series_key, observation.source, observation.comment) == (
        SERIES,
        SCHOOL,
        "revised",
    )


def test_scopes_keep_one_scope_per_source_while_the_clock_stands_still() -> None:
    scopes = Scopes(ingest_catalog())
    first = scopes(SCHOOL, NOW)
    assert scopes(SCHOOL, NOW) is first
    assert scopes(SCHOOL, NOW.astimezone()) is first  # the same moment in another zone
    later = scopes(SCHOOL, NOW.replace(minute=1))
    assert later is not first
    assert later.allowed is first.allowed  # worked out once per source
    assert SHARE in first.allowed
    assert scopes.knows(SCHOOL)
    assert not scopes.knows("nobody")


def test_a_batch_is_encoded_to_the_bytes_each_row_gets_alone() -> None:
    rows = [
        ValidRow(1, SERIES, FIELDS),
        ValidRow(2, SERIES, FIELDS | {"updated_at": "2025-02-01T08:00:00Z", "comment": 'a "q"'}),
        ValidRow(3, SERIES, FIELDS | {"observation_id": "own"}),
        ValidRow(4, SERIES, FIELDS | {"source": "someone-else", "schema": "x"}),
        ValidRow(5, SERIES, {}),
    ]
    ids = ["a", "b", "c", "d", "e"]
    received = "2025-06-15T12:00:00Z"
    alone = [encode_event(row, 'sk"ola', received, oid) for row, oid in zip(rows, ids, strict=True)]
    assert encode_events(rows, 'sk"ola', received, ids) == alone
