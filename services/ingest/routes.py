"""HTTP routes of the ingest service: the batch endpoint, health, readiness and metrics."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from services.ingest.answers import (
    in_progress,
    json_answer,
    kafka_unavailable,
    not_recorded,
    outcome_unknown,
    problem,
    rate_limited,
)
from services.ingest.dependencies import AdmittedSourceDep, State
from services.ingest.errors import BodyError
from services.ingest.formats import XLSX, body_form
from services.ingest.metrics import exposition
from services.ingest.outcomes import (
    BatchOutcome,
    BodyRefused,
    Judged,
    KeyInProgress,
    KeyNotRecorded,
    KeyReused,
    NotAccepted,
    OutcomeUnknown,
    RateLimited,
    Replayed,
)
from services.ingest.schemas import CSV_EXAMPLE, BatchReport, ObservationBatch, Problem
from shared.db.engine import ping
from shared.http_params import DeclaredParameters

router = APIRouter()


def answer(outcome: BatchOutcome, retry_after: int) -> Response:
    """The HTTP answer of a batch's outcome: status, headers and body as docs/ingest.md has them."""
    match outcome:
        case Judged(report):
            status = (200 if report.dry_run else 202) if report.accepted else 422
            return json_answer(status, report.as_dict())
        case Replayed(report, accepted):
            return json_answer(202 if accepted else 422, report, {"Idempotent-Replayed": "true"})
        case BodyRefused(error):
            return refused(error)
        case NotAccepted(keyed):
            return kafka_unavailable(retry_after, keyed)
        case OutcomeUnknown(timeout, keyed):
            return outcome_unknown(timeout, retry_after, keyed)
        case KeyNotRecorded():
            return not_recorded(retry_after)
        case KeyReused():
            reused = "this Idempotency-Key was used before with a different request"
            return problem(422, "idempotency_key_reused", reused)
        case KeyInProgress(seconds):
            return in_progress(seconds, retry_after)
        case RateLimited(throttled):
            return rate_limited(throttled)


def refused(error: BodyError) -> Response:
    """The problem answer of a body that cannot be read: where, as line/column and cell."""
    return problem(
        error.status,
        error.code,
        error.message,
        line=error.line,
        column=error.column,
        cell=error.cell,
    )


def query_refused(request: Request) -> Response | None:
    """400 for a query parameter the route does not take (a mistyped `dry_run` would publish)
    or a single-valued one given twice; None when the query is fine."""
    faults, known = _DECLARED.judge(request)
    if not faults:
        return None
    code = "unknown_parameter" if faults.unknown else "invalid_request"
    message = "; ".join(f"{name}: {text}" for name, text in faults.messages(known))
    return problem(400, code, message)


_DECLARED = DeclaredParameters()


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


BATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": BatchReport,
        "description": "Dry run: what would have been accepted; nothing published.",
    },
    202: {"model": BatchReport, "description": "Kafka acknowledged every accepted row (acks=all)."},
    400: _problem(
        "Malformed body (says where), bad query/header, empty batch, unknown CSV column."
    ),
    401: _problem("Missing, unknown or revoked key."),
    409: _problem(
        "A request with the same Idempotency-Key holds it; retry after `Retry-After` seconds."
    ),
    413: _problem(
        "More rows than the limit or the source's rows per minute, or a body over the byte limit."
    ),
    415: _problem(
        "Content-Type neither application/json, text/csv nor .xlsx, or a charset not read."
    ),
    429: _problem(
        "The source is over its requests or rows per minute (`limit`); nothing was published;"
        " retry after `Retry-After` seconds."
    ),
    422: {
        "description": "No row accepted (every row rejected, or `atomic=true` and a row was bad): a"
        " BatchReport; or `idempotency_key_reused`: a Problem.",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/BatchReport"},
                        {"$ref": "#/components/schemas/Problem"},
                    ]
                }
            }
        },
    },
    503: _problem(
        "Kafka did not acknowledge within the publish timeout, or the database is down; `outcome`"
        " says `not_accepted` (nothing was published) or `unknown` (some rows may have been:"
        " retry with the same Idempotency-Key); retry after `Retry-After` seconds."
    ),
}

BATCH_BODY = {
    "requestBody": {
        "required": True,
        "description": 'A JSON object `{"observations": [...]}`, or CSV (UTF-8, or'
        " `charset=windows-1252`) or an .xlsx workbook in the long layout (a header row of field"
        " names) or the wide layout (`area` and one period per column; docs/sources.md).",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ObservationBatch"}},
            "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "/v1/observations",
    status_code=202,
    responses=BATCH_RESPONSES,
    openapi_extra=BATCH_BODY,
    response_model=BatchReport,
    tags=["ingest"],
)
async def post_observations(
    request: Request,
    state: State,
    source: AdmittedSourceDep,
    dry_run: Annotated[
        bool, Query(description="Validate only; publish nothing; answer 200.")
    ] = False,
    atomic: Annotated[bool, Query(description="Reject the whole batch if any row is bad.")] = False,
    indicator: Annotated[
        str | None, Query(description="Wide layout: the indicator of every value in the table.")
    ] = None,
    gender: Annotated[
        str | None, Query(description="Wide layout: the gender of every value (`T` default).")
    ] = None,
    sheet: Annotated[
        str | None, Query(description=".xlsx: read this sheet only (default: every table).")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Repeats with the same key (same source) get the first answer and publish nothing new.",
        ),
    ] = None,
) -> Response:
    """Receive a batch of observations (JSON, CSV or .xlsx); answer what happened to each row."""
    wrong = query_refused(request)
    if wrong is not None:
        return wrong
    try:
        form = body_form(request.headers.get("content-type", ""), indicator, gender, sheet)
    except BodyError as exc:
        return refused(exc)
    limit = state.settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return problem(413, "body_too_large", f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return problem(413, "body_too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    outcome = await state.service.ingest(
        source,
        b"".join(chunks),
        form=form,
        dry_run=dry_run,
        atomic=atomic,
        idempotency_key=idempotency_key,
    )
    return answer(outcome, state.settings.ingest_retry_after_seconds)


@router.get("/healthz", tags=["operations"])
async def healthz() -> dict[str, str]:
    """Alive."""
    return {"status": "ok"}


@router.get(
    "/readyz", tags=["operations"], responses={503: {"description": "A dependency is unreachable."}}
)
async def readyz(state: State) -> Response:
    """Ready when Kafka and the database both answer."""
    kafka, database = await asyncio.gather(
        state.publisher.ping(), asyncio.to_thread(_database_ok, state)
    )
    ok = kafka and database
    body = {"status": "ready" if ok else "unavailable", "kafka": kafka, "database": database}
    return Response(
        orjson.dumps(body), status_code=200 if ok else 503, media_type="application/json"
    )


def _database_ok(state: Any) -> bool:
    try:
        ping(state.engine)
    except Exception:
        return False
    return True


@router.get("/metrics", tags=["operations"])
async def metrics(state: State) -> Response:
    """Prometheus metrics."""
    return Response(exposition(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


__all__ = ["ObservationBatch", "router"]
