"""`/v1/namnder`: each nämnd's rollup of the etappmål and indicators it leads or is involved in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import Connection
from starlette.responses import Response

from services.api import redaction, views
from services.api.caching import ReadState
from services.api.deps import Ctx, FormatParam, PagingDep, ViewDep
from services.api.errors import not_found
from services.api.routers.common import DETAIL_RESPONSES, LIST_RESPONSES
from services.api.schemas.status import NamndPage, NamndRollup
from shared.domain.catalog import NamndType
from shared.domain.status import StatusCode
from shared.readmodel.revisions import NAMNDER

router = APIRouter(tags=["nämnder"])


@router.get(
    "/v1/namnder",
    response_model=NamndPage,
    responses=LIST_RESPONSES,
    summary="Every nämnd's rollup",
)
async def list_namnder(
    request: Request,
    ctx: Ctx,
    view: ViewDep,
    paging: PagingDep,
    fmt: FormatParam = None,
    type: Annotated[
        list[NamndType] | None,
        Query(
            description="Only nämnder of these kinds (repeat for several).",
            examples=[["stadsdelsnamnd"]],
        ),
    ] = None,
    status: Annotated[
        list[StatusCode] | None,
        Query(
            description="Only nämnder with an etappmål or indicator in one of these statuses.",
            examples=[["forsamring"]],
        ),
    ] = None,
) -> Response:
    """Per nämnd: its etappmål and indicators with status, counts per status, and for a
    stadsdelsnämnd its area's values against the city."""
    kinds = {t.value for t in type or []}
    statuses = {s.value for s in status or []}

    def produce(conn: Connection, state: ReadState) -> list[dict[str, Any]]:
        items = views.namnd_items(conn, ctx.catalog, ctx.as_of(state), ctx.projected)
        return [
            item
            for item in (redaction.namnd(i, view) for i in items)
            if (not kinds or item["type"] in kinds)
            and (
                not statuses
                or statuses & {r["status"] for r in (*item["etappmal"], *item["indikatorer"])}
            )
        ]

    return await ctx.answers.page(request, fmt, NamndRollup, paging, produce, [NAMNDER])


@router.get(
    "/v1/namnder/{id}",
    response_model=NamndRollup,
    responses=DETAIL_RESPONSES,
    summary="One nämnd's rollup",
)
async def get_namnd(
    request: Request,
    ctx: Ctx,
    view: ViewDep,
    id: Annotated[str, Path(description="Nämnd id.", examples=["rinkeby-kista-sdn"])],
) -> Response:
    """One nämnd's rollup."""
    if id not in ctx.catalog.namnd:
        raise not_found("nämnd", id, "GET /v1/namnder")

    def produce(conn: Connection, state: ReadState) -> dict[str, Any]:
        items = views.namnd_items(conn, ctx.catalog, ctx.as_of(state), ctx.projected)
        return redaction.namnd(next(item for item in items if item["id"] == id), view)

    return await ctx.answers.one(request, produce, [NAMNDER])
