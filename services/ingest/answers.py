"""What the ingest service answers over HTTP: JSON answers, problem documents, the 503s and the 409."""

from __future__ import annotations

import math
from typing import Any

import orjson
from fastapi import Response

from services.ingest.throttle import REQUESTS, Throttled


def json_answer(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    """A JSON answer, serialised with orjson."""
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def problem(
    status: int,
    code: str,
    message: str,
    *,
    line: int | None = None,
    column: int | None = None,
    cell: str | None = None,
    headers: dict[str, str] | None = None,
    outcome: str | None = None,
) -> Response:
    """A problem answer `{code, message, line, column}`, with `cell` when a cell is at fault and
    `outcome` when the batch's fate is at issue."""
    body: dict[str, Any] = {"code": code, "message": message, "line": line, "column": column}
    if cell is not None:
        body["cell"] = cell
    if outcome is not None:
        body["outcome"] = outcome
    return json_answer(status, body, headers)


def unavailable(
    code: str, message: str, retry_after: int, *, outcome: str = "not_accepted"
) -> Response:
    """A 503 with `Retry-After`; `outcome` is `not_accepted` (nothing was published) or `unknown`."""
    return problem(503, code, message, outcome=outcome, headers={"Retry-After": str(retry_after)})


def outcome_unknown(timeout: float, retry_after: int, keyed: bool) -> Response:
    """The rows were sent but not acknowledged in time: what a source should know and do."""
    head = (
        f"Kafka did not acknowledge the batch within {timeout:g}s, but it had been sent: some or all"
        " of its rows may have been accepted, and those will be shown. "
    )
    if keyed:
        advice = (
            "Retry with the same body and Idempotency-Key; that is safe: the observation ids"
            " derive from the key, so a row sent twice is a harmless repeat."
        )
    else:
        advice = (
            "This request had no Idempotency-Key, so a retry publishes its rows again under new"
            " observation ids (repeated versions of the same values). Send an Idempotency-Key"
            " to make retries safe."
        )
    return unavailable("kafka_outcome_unknown", head + advice, retry_after, outcome="unknown")


def not_recorded(retry_after: int) -> Response:
    """The Idempotency-Key could not be claimed: nothing was done."""
    return unavailable(
        "database_unavailable",
        "The Idempotency-Key could not be recorded (database unavailable), so the batch was not"
        " processed: nothing was published. Retry after Retry-After seconds with the same key.",
        retry_after,
    )


def kafka_unavailable(retry_after: int, keyed: bool) -> Response:
    """No row was handed to Kafka before the timeout: nothing was accepted."""
    again = ", with the same Idempotency-Key." if keyed else "."
    return unavailable(
        "kafka_unavailable",
        "Kafka could not be reached in time and no row was sent: nothing was accepted. Retry after"
        " Retry-After seconds" + again,
        retry_after,
    )


def rate_limited(throttled: Throttled) -> Response:
    """429 with `Retry-After` for a source over its budget; 413 for a batch that can never fit."""
    t = throttled
    unit = "requests" if t.limit == REQUESTS else "rows"
    body: dict[str, Any] = {"line": None, "column": None, "outcome": "not_accepted"}
    body |= {"limit": t.limit, "per_minute": t.per_minute}
    setting = f"STADSPULS_INGEST_{t.limit.upper()} or the source's entry in STADSPULS_INGEST_SOURCE_LIMITS"
    if t.retry_after is None:
        body["code"] = "batch_over_rate_limit"
        body["message"] = (
            f"the batch has {t.asked} rows but source {t.source} may send at most {t.per_minute}"
            f" rows per minute ({setting}): split it into batches of at most {t.per_minute} rows."
            " Nothing was published."
        )
        return json_answer(413, body)
    body["code"] = "rate_limited"
    body["message"] = (
        f"source {t.source} is over its budget of {t.per_minute} {unit} per minute on this ingest"
        f" replica ({setting}); nothing was published. Retry after Retry-After seconds"
        " (when the budget has room for this request)."
    )
    return json_answer(429, body, {"Retry-After": t.retry_after_header})


def in_progress(seconds: float, retry_after: int) -> Response:
    """Another request holds the key; its claim lapses within `seconds`."""
    lapses = math.ceil(seconds)
    return problem(
        409,
        "idempotency_in_progress",
        "a request with this Idempotency-Key is being processed, or its answer is not recorded yet;"
        f" its claim lapses within {lapses}s. Retry after Retry-After seconds.",
        headers={"Retry-After": str(max(1, min(lapses, retry_after)))},
    )
