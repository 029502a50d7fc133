"""`/v1/rapporter`: the frozen reports, each a knowledge time every read endpoint takes as `rapport=`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection
from starlette.responses import Response

from services.api.caching import ReadState
from services.api.deps import ApiContext, Ctx, FormatParam, PagingDep
from services.api.rapporter import list_rapporter
from services.api.routers.common import LIST_RESPONSES
from services.api.schemas.rapporter import RapportOut, RapportPage

router = APIRouter(tags=["rapporter"])


@router.get(
    "/v1/rapporter",
    response_model=RapportPage,
    responses=LIST_RESPONSES,
    summary="The frozen reports",
)
async def list_reports(
    request: Request, ctx: Ctx, paging: PagingDep, fmt: FormatParam = None
) -> Response:
    """Every frozen report by knowledge time: `rapport=ID` on any read endpoint answers as it."""
    base: ApiContext = request.app.state.context

    def produce(conn: Connection, state: ReadState) -> list[dict[str, Any]]:
        found = list_rapporter(base.engine)  # reports live beside the read model, not in a past one
        if ctx is not base:  # as of a past moment: the reports frozen by then
            found = [r for r in found if state.committed_at and r.frozen_at <= state.committed_at]
        return [
            {"id": r.id, "title": r.title, "as_of": r.as_of, "frozen_at": r.frozen_at}
            for r in found
        ]

    return await ctx.answers.page(request, fmt, RapportOut, paging, produce)
