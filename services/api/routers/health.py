"""`/healthz`, `/readyz` and `/metrics`: for orchestrators and Prometheus."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from services.api import queries
from services.api.caching import NO_STORE, read_state
from services.api.deps import PresentCtx
from services.api.schemas.common import Health

router = APIRouter(tags=["drift"])


def _json(body: dict[str, object], status: int = 200) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": NO_STORE},
    )


@router.get("/healthz", response_model=Health, summary="Alive")
async def healthz() -> Response:
    """The process answers; says nothing about the database."""
    return _json({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Health,
    responses={
        503: {
            "description": "Not ready: the database is unreachable or lacks the schema.",
            "model": Health,
        }
    },
    summary="Ready to serve",
)
def readyz(ctx: PresentCtx) -> Response:
    """Ready when the read model is reachable and has the schema the API reads."""
    head, known = ctx.migrations
    try:
        with ctx.engine.connect() as conn:
            schema = queries.check_schema(conn)
            behind = schema is None or (schema in known and schema != head)
            # an older schema may lack columns the state is read from: say what to do instead
            revision = None if behind else read_state(conn).revision
    except SQLAlchemyError as exc:
        reason = str(exc.__cause__ or exc).splitlines()[0][:300]
        return _json({"status": "not_ready", "detail": f"read model unavailable: {reason}"}, 503)
    body: dict[str, object] = {
        "status": "ready",
        "database": ctx.engine.dialect.name,
        "schema_revision": schema,
        "revision": revision,
    }
    if behind:
        detail = f"the read model is at schema {schema or 'none'}, this API needs {head}"
        body |= {"status": "not_ready", "detail": f"{detail}; run `stadspuls db upgrade`"}
        return _json(body, 503)
    return _json(body)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format.",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(ctx: PresentCtx) -> Response:
    """Request counts and latencies by route template, in the Prometheus text format."""
    return Response(
        generate_latest(ctx.metrics.registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": NO_STORE},
    )
