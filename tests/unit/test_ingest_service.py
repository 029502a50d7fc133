"""IngestService on the recording fakes: what each batch becomes and what is published — without
Kafka (tests/integration runs the same service on the real parts)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.ingest.outcomes import BodyRefused, IngestReport, NotAccepted, OutcomeUnknown
from shared.domain.observation import Observation
from tests.factories import (
    LABOUR,
    NOW,
    SCHOOL,
    SHARE,
    count_row,
    csv_body,
    json_body,
    share_row,
    share_rows,
)
from tests.fakes import IngestRig

KEY = "batch-2025-06-15"


@pytest.fixture
def rig() -> IngestRig:
    return IngestRig()


def test_an_accepted_batch_publishes_each_row_as_its_canonical_event(rig: IngestRig) -> None:
    rows = share_rows(3)
    got = rig.judged(json_body(rows))
    assert got == IngestReport(
        got.batch_id, received=3, accepted=3, rejected=0, dry_run=False, errors=[]
    )
    records = rig.publisher.records(rig.topic)
    assert [key for key, _, _ in records] == [
        f"{SHARE}|{r['area']}|{r['period']}|{r['gender']}".encode() for r in rows
    ]
    events = [Observation.model_validate_json(value or b"") for _, value, _ in records]
    assert {e.source for e in events} == {SCHOOL}
    assert {e.received_at for e in events} == {NOW + timedelta(seconds=1)}
    assert len({e.observation_id for e in events}) == 3
    assert [e.numerator for e in events] == [r["numerator"] for r in rows]
    assert rig.batches(SCHOOL, "accepted") == 1


def test_a_partial_batch_publishes_only_its_good_rows(rig: IngestRig) -> None:
    got = rig.judged(json_body([share_row(), share_row(period="2024-Q5")]))
    assert (got.accepted, got.rejected) == (1, 1)
    assert [(e["row"], e["field"], e["code"]) for e in got.errors] == [(2, "period", "bad_period")]
    assert [e["period"] for e in rig.events()] == ["2024"]
    assert rig.batches(SCHOOL, "partial") == 1
    rows = "stadspuls_ingest_observations_{}_total"
    assert rig.sample(rows.format("received"), source=SCHOOL) == 2
    assert rig.sample(rows.format("accepted"), source=SCHOOL) == 1
    assert rig.sample(rows.format("rejected"), source=SCHOOL, reason="bad_period") == 1


def test_an_indicator_outside_the_sources_scope_is_a_row_error(rig: IngestRig) -> None:
    got = rig.judged(json_body([count_row()]))
    assert [e["code"] for e in got.errors] == ["forbidden_indicator"]
    assert rig.publisher.attempts == []
    assert rig.judged(json_body([count_row()]), source=LABOUR).accepted == 1


def test_an_atomic_batch_with_a_bad_row_publishes_nothing(rig: IngestRig) -> None:
    got = rig.judged(json_body([share_row(), share_row(area="atlantis")]), atomic=True)
    assert (got.accepted, got.rejected) == (0, 2)
    assert [(e["row"], e["code"]) for e in got.errors] == [
        (2, "unknown_area"),
        (0, "batch_rejected"),
    ]
    assert rig.publisher.attempts == []
    assert rig.batches(SCHOOL, "rejected") == 1


def test_a_dry_run_publishes_nothing_and_ignores_the_key(rig: IngestRig) -> None:
    got = rig.judged(json_body(share_rows(2)), dry_run=True, key=KEY)
    assert (got.accepted, got.dry_run) == (2, True)
    assert rig.publisher.attempts == []
    assert rig.keys.entries == {}
    assert rig.batches(SCHOOL, "dry_run") == 1


def test_csv_errors_carry_the_line_the_record_starts_on(rig: IngestRig) -> None:
    body = csv_body(
        [share_row(), share_row(period="2023", comment="two\nlines"), share_row(gender="X")]
    )
    got = rig.judged(body, csv=True)
    assert [(e["row"], e["line"], e["code"]) for e in got.errors] == [(3, 5, "bad_gender")]
    assert got.accepted == 2


def test_an_unreadable_body_is_refused_and_frees_the_key(rig: IngestRig) -> None:
    outcome = rig.send(b'{"observations": [', key=KEY)
    assert isinstance(outcome, BodyRefused)
    assert (outcome.error.status, outcome.error.code) == (400, "malformed_json")
    assert rig.keys.entries == {}
    assert rig.judged(json_body([share_row()]), key=KEY).accepted == 1
    assert rig.batches(SCHOOL, "invalid") == 1


def test_a_row_with_its_own_id_keeps_it(rig: IngestRig) -> None:
    own = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    rig.send(json_body([share_row(observation_id=own)]), key=KEY)
    assert [e["observation_id"] for e in rig.events()] == [own]


@pytest.mark.parametrize("keyed", [False, True])
def test_kafka_taking_nothing_is_not_accepted_and_frees_the_key(
    rig: IngestRig, keyed: bool
) -> None:
    rig.publisher.fail_next("not_accepted")
    key = KEY if keyed else None
    assert rig.send(json_body([share_row()]), key=key) == NotAccepted(keyed=keyed)
    assert rig.publisher.attempts == []
    assert rig.keys.entries == {}
    assert rig.batches(SCHOOL, "unavailable") == 1
    assert rig.judged(json_body([share_row(period="2023")]), key=key).accepted == 1


def test_an_unknown_outcome_without_a_key_says_so(rig: IngestRig) -> None:
    rig.publisher.fail_next("unknown")
    assert rig.send(json_body([share_row()])) == OutcomeUnknown(3.0, keyed=False)
