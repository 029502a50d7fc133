"""The HTTP answer of each outcome (`routes.answer`): status, headers and body as docs/ingest.md
documents them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.ingest.outcomes import (
    BatchOutcome,
    BodyRefused,
    IngestReport,
    Judged,
    KeyInProgress,
    KeyNotRecorded,
    KeyReused,
    NotAccepted,
    OutcomeUnknown,
    Replayed,
)
from services.ingest.parsing import BodyError
from services.ingest.routes import answer

RETRY_AFTER = 5


def report(accepted: int, *, dry_run: bool = False) -> IngestReport:
    errors = [{"row": 2, "field": "period", "code": "bad_period", "message": "no"}]
    return IngestReport("b-1", accepted + 1, accepted, 1, dry_run, errors)


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Judged(report(2)), 202),
        (Judged(report(0)), 422),
        (Judged(report(2, dry_run=True)), 200),
        (Judged(report(0, dry_run=True)), 422),
    ],
)
def test_a_report_is_202_200_for_a_dry_run_and_422_when_nothing_is_accepted(
    outcome: Judged, status: int
) -> None:
    response = answer(outcome, RETRY_AFTER)
    assert response.status_code == status
    assert response.body == orjson.dumps(outcome.report.as_dict())
    names = ["batch_id", "received", "accepted", "rejected", "dry_run", "errors"]
    assert list(orjson.loads(response.body)) == names
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(("accepted", "status"), [(True, 202), (False, 422)])
def test_a_replay_is_the_first_report_marked_replayed(accepted: bool, status: int) -> None:
    first: dict[str, Any] = {"batch_id": "b-1", "accepted": 1 if accepted else 0}
    response = answer(Replayed(first, accepted), RETRY_AFTER)
    assert (response.status_code, response.body) == (status, orjson.dumps(first))
    assert response.headers["idempotent-replayed"] == "true"


def problem(outcome: BatchOutcome) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = answer(outcome, RETRY_AFTER)
    assert response.media_type == "application/json"
    return response.status_code, orjson.loads(response.body), dict(response.headers)


def test_an_unreadable_body_is_a_problem_saying_where() -> None:
    error = BodyError("malformed_json", "line 3, column 7: unexpected", line=3, column=7)
    status, body, _ = problem(BodyRefused(error))
    assert (status, body) == (
        400,
        {
            "code": "malformed_json",
            "message": "line 3, column 7: unexpected",
            "line": 3,
            "column": 7,
        },
    )
    too_many = BodyError("too_many_rows", "more than 10 rows", status=413)
    assert problem(BodyRefused(too_many))[:2] == (
        413,
        {"code": "too_many_rows", "message": "more than 10 rows", "line": None, "column": None},
    )


@pytest.mark.parametrize(
    ("outcome", "code", "fate"),
    [
        (NotAccepted(keyed=True), "kafka_unavailable", "not_accepted"),
        (OutcomeUnknown(10.0, keyed=True), "kafka_outcome_unknown", "unknown"),
        (KeyNotRecorded(), "database_unavailable", "not_accepted"),
    ],
)
def test_failures_are_503_with_retry_after_and_the_batchs_fate(
    outcome: BatchOutcome, code: str, fate: str
) -> None:
    status, body, headers = problem(outcome)
    assert (status, body["code"], body["outcome"]) == (503, code, fate)
    assert headers["retry-after"] == str(RETRY_AFTER)


def test_the_advice_depends_on_whether_the_request_had_a_key() -> None:
    keyed = problem(OutcomeUnknown(2.5, keyed=True))[1]["message"]
    unkeyed = problem(OutcomeUnknown(2.5, keyed=False))[1]["message"]
    assert "within 2.5s" in keyed
    assert "safe" in keyed
    assert "no Idempotency-Key" in unkeyed
    assert "same Idempotency-Key" in problem(NotAccepted(keyed=True))[1]["message"]
    assert "Idempotency-Key" not in problem(NotAccepted(keyed=False))[1]["message"]


def test_idempotency_states_are_422_and_409() -> None:
    status, body, _ = problem(KeyReused())
    assert (status, body["code"]) == (422, "idempotency_key_reused")
    status, body, headers = problem(KeyInProgress(12.2))
    assert (status, body["code"], headers["retry-after"]) == (409, "idempotency_in_progress", "5")
    assert "within 13s" in body["message"]
    assert problem(KeyInProgress(0.2))[2]["retry-after"] == "1"
