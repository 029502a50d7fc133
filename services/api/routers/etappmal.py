"""`/v1/etappmal`: every etappmål's status with its indicators and responsible nämnder."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import Connection
from starlette.responses import Response

from services.api import redaction, views
from services.api.caching import ReadState
from services.api.deps import Ctx, FormatParam, PagingDep, ViewDep, split
from services.api.errors import not_found
from services.api.routers.common import DETAIL_RESPONSES, LIST_RESPONSES
from services.api.schemas.status import EtappmalOut, EtappmalPage
from shared.domain.catalog import Gender
from shared.domain.status import StatusCode

router = APIRouter(tags=["etappmål"])

AreaParam = Annotated[
    str | None,
    Query(
        description="Judge the status for this area instead of the city.",
        examples=["rinkeby-kista"],
    ),
]
GenderQuery = Annotated[
    Gender, Query(description="Judge the status for this gender (T, K, M).", examples=["T"])
]


@router.get(
    "/v1/etappmal",
    response_model=EtappmalPage,
    responses=LIST_RESPONSES,
    summary="Every etappmål with its status",
)
async def list_etappmal(
    request: Request,
    ctx: Ctx,
    view: ViewDep,
    paging: PagingDep,
    fmt: FormatParam = None,
    area: AreaParam = None,
    gender: GenderQuery = Gender.T,
    status: Annotated[
        list[StatusCode] | None,
        Query(
            description="Only etappmål with one of these statuses (repeat for several).",
            examples=[["i_fas"]],
        ),
    ] = None,
    namnd: Annotated[
        list[str] | None,
        Query(
            description="Only etappmål this nämnd leads or is involved in (ids; repeat or comma-separate).",
            examples=[["utbildningsnamnden"]],
        ),
    ] = None,
    malomrade: Annotated[
        list[str] | None,
        Query(
            description="Only etappmål of these målområden (ids).",
            examples=[["uppvaxt-och-utbildning"]],
        ),
    ] = None,
) -> Response:
    """Status, direction, baseline, target, the indicators and the responsible nämnder of each etappmål."""
    catalog = ctx.catalog
    where_area = ctx.area_param("area", area)
    statuses = {s.value for s in status or []}
    namnder = set(split("namnd", namnd, set(catalog.namnd)))
    areas = set(split("malomrade", malomrade, {m.id for m in catalog.malomraden}))

    def produce(conn: Connection, state: ReadState) -> list[dict[str, Any]]:
        items = views.etappmal_items(
            conn, catalog, where_area, gender.value, ctx.as_of(state), ctx.projected
        )
        return [
            item
            for item in (redaction.etappmal(i, view) for i in items)
            if (not statuses or item["status"] in statuses)
            and (not areas or item["malomrade"] in areas)
            and (not namnder or namnder & {r["namnd"] for r in item["responsible"]})
        ]

    keys = views.status_keys(catalog, where_area, gender.value)
    return await ctx.answers.page(request, fmt, EtappmalOut, paging, produce, keys)


@router.get(
    "/v1/etappmal/{id}",
    response_model=EtappmalOut,
    responses=DETAIL_RESPONSES,
    summary="One etappmål with its status",
)
async def get_etappmal(
    request: Request,
    ctx: Ctx,
    view: ViewDep,
    id: Annotated[str, Path(description="Etappmål id.", examples=["behorighet-gymnasiet"])],
    area: AreaParam = None,
    gender: GenderQuery = Gender.T,
) -> Response:
    """One etappmål: status with counts, its indicators with latest value, trend, status and inputs."""
    catalog = ctx.catalog
    if id not in catalog.goal:
        raise not_found("etappmål", id, "GET /v1/etappmal")
    where_area = ctx.area_param("area", area)

    def produce(conn: Connection, state: ReadState) -> dict[str, Any]:
        items = views.etappmal_items(
            conn, catalog, where_area, gender.value, ctx.as_of(state), ctx.projected
        )
        return redaction.etappmal(next(item for item in items if item["id"] == id), view)

    keys = views.status_keys(catalog, where_area, gender.value, catalog.goal[id].indicators)
    return await ctx.answers.one(request, produce, keys)
