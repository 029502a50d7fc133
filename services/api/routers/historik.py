"""`/v1/indikatorer/{id}/historik`: every version received for an indicator's series."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import Connection
from starlette.responses import Response

from services.api import queries, redaction
from services.api.caching import ReadState
from services.api.deps import Ctx, FormatParam, PagingDep, ViewDep
from services.api.errors import bad_parameter
from services.api.past import known
from services.api.routers.common import LIST_RESPONSES
from services.api.routers.indikatorer import IdPath, check_indicator
from services.api.schemas.series import VersionPage, VersionRow
from shared.domain.catalog import Gender
from shared.domain.periods import PeriodError, parse_period
from shared.domain.validation.event import period_type_problem

router = APIRouter(tags=["indikatorer"])


@router.get(
    "/v1/indikatorer/{id}/historik",
    response_model=VersionPage,
    responses=LIST_RESPONSES,
    summary="Every version received for the series of an indicator",
)
async def list_historik(
    request: Request,
    ctx: Ctx,
    view: ViewDep,
    id: IdPath,
    paging: PagingDep,
    fmt: FormatParam = None,
    area: Annotated[
        str | None, Query(description="Only this area's series.", examples=["rinkeby"])
    ] = None,
    period: Annotated[
        str | None, Query(description="Only this period's series.", examples=["2024"])
    ] = None,
    gender: Annotated[
        Gender | None, Query(description="Only this gender's series (T, K, M).", examples=["T"])
    ] = None,
) -> Response:
    """Every version of the matching series, each series in version order, with its outcome."""
    check_indicator(ctx, id)
    where = {"indicator": id}
    if area is not None:
        where["area"] = ctx.area_param("area", area)
    if period is not None:
        try:
            parsed = parse_period(period)
        except PeriodError as exc:
            raise bad_parameter("period", str(exc)) from None
        wrong = period_type_problem(ctx.catalog.indicator[id], parsed)
        if wrong is not None:  # no series of it can exist: say so rather than answer none
            raise bad_parameter("period", wrong.message)
        where["period"] = parsed.text
    if gender is not None:
        where["gender"] = gender.value

    def produce(conn: Connection, state: ReadState) -> tuple[int, list[dict[str, Any]]]:
        if ctx.past_of is None:
            total, rows = queries.version_page(conn, where, paging.limit, paging.offset)
        else:  # a past moment's versions are those recorded then, where they are recorded
            source, moment = ctx.past_of
            with source.connect() as versions:
                counted = known(moment)
                total, rows = queries.version_page(
                    versions, where, paging.limit, paging.offset, *counted
                )
        return total, [redaction.version_row(row, view) for row in rows]

    return await ctx.answers.page(request, fmt, VersionRow, paging, produce)
