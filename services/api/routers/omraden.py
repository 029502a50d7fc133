"""`/v1/omraden`: areas with their social-risk index, and area profiles."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import Connection
from starlette.responses import Response

from services.api import redaction
from services.api.caching import ReadState
from services.api.deps import ApiContext, Ctx, FormatParam, PagingDep, ViewDep, split
from services.api.errors import not_found
from services.api.profiles import omrade_items, profile_keys, profile_rows
from services.api.routers.common import DETAIL_RESPONSES, LIST_RESPONSES
from services.api.schemas.areas import OmradeOut, OmradePage, OmradeProfile, ProfilePage, ProfileRow
from shared.domain.catalog import Gender
from shared.domain.rollup import SERIES_LEVELS
from shared.readmodel.revisions import RISK, risk_key

router = APIRouter(tags=["områden"])

IdPath = Annotated[str, Path(description="Area id.", examples=["rinkeby-kista"])]
GenderQuery = Annotated[
    Gender, Query(description="Gender of the values (T, K, M).", examples=["T"])
]


def _area(ctx: ApiContext, area_id: str) -> None:
    if area_id not in ctx.areas:
        raise not_found("område", area_id, "GET /v1/omraden")


def _shown(ctx: ApiContext, state: ReadState) -> ReadState | None:
    """The read state whose projections a profile shows; None in a moment of the past (or an app
    told to compute on request), whose profiles are made from its rows, judged at its as_of."""
    return state if ctx.projected else None


def _profile(
    ctx: ApiContext, conn: Connection, state: ReadState, area: str, gender: str
) -> list[dict[str, Any]]:
    return profile_rows(conn, ctx.catalog, area, gender, ctx.as_of(state), _shown(ctx, state))


@router.get(
    "/v1/omraden",
    response_model=OmradePage,
    responses=LIST_RESPONSES,
    summary="Every area with its social-risk index",
)
async def list_omraden(
    request: Request,
    ctx: Ctx,
    view: ViewDep,
    paging: PagingDep,
    fmt: FormatParam = None,
    level: Annotated[
        list[str] | None,
        Query(
            description="Only these levels: stad, stadsdelsomrade, stadsdel, virtual.",
            examples=[["stadsdelsomrade"]],
        ),
    ] = None,
    parent: Annotated[
        str | None, Query(description="Only direct children of this area.", examples=["stockholm"])
    ] = None,
    ytterstad: Annotated[
        bool | None,
        Query(description="Only areas in (true) or outside (false) ytterstaden.", examples=[True]),
    ] = None,
    fokus: Annotated[
        bool | None,
        Query(description="Only focus areas (true) or the others (false).", examples=[True]),
    ] = None,
    namnd: Annotated[
        list[str] | None,
        Query(
            description="Only the areas these stadsdelsnämnder own (ids).",
            examples=[["rinkeby-kista-sdn"]],
        ),
    ] = None,
    valid_on: Annotated[
        date | None,
        Query(
            description="Only the tree of this day: areas valid then, `parent` their parent then"
            " (a series row's `tree`).",
            examples=["2019-12-31"],
        ),
    ] = None,
) -> Response:
    """Areas of the tree (and the virtual ytterstaden/fokusomraden) with risk index and rank.

    Former areas are listed too, with their `valid_to`; `valid_on` picks one day's tree.
    """
    levels = set(split("level", level, SERIES_LEVELS))
    if parent is not None:
        ctx.area_param("parent", parent)
    owners = set(split("namnd", namnd, set(ctx.catalog.namnd)))

    def produce(conn: Connection, state: ReadState) -> list[dict[str, Any]]:
        items = omrade_items(conn, ctx.catalog, valid_on)
        return [
            item
            for item in (redaction.risk(i, view) for i in items)
            if (not levels or item["level"] in levels)
            and (parent is None or item["parent"] == parent)
            and (ytterstad is None or item["ytterstad"] == ytterstad)
            and (fokus is None or item["fokus"] == fokus)
            and (not owners or item["namnd"] in owners)
        ]

    return await ctx.answers.page(request, fmt, OmradeOut, paging, produce, [RISK])


@router.get(
    "/v1/omraden/{id}",
    response_model=OmradeProfile,
    responses=DETAIL_RESPONSES,
    summary="An area profile",
)
async def get_omrade(
    request: Request, ctx: Ctx, view: ViewDep, id: IdPath, gender: GenderQuery = Gender.T
) -> Response:
    """Latest value per indicator, gap to the city, the area's own status, risk index and rank."""
    _area(ctx, id)

    def produce(conn: Connection, state: ReadState) -> dict[str, Any]:
        (item,) = omrade_items(conn, ctx.catalog, only=id)
        rows = _profile(ctx, conn, state, id, gender.value)
        shown = [redaction.profile_row(row, view) for row in rows]
        return redaction.risk(item, view) | {"indikatorer": shown}

    def keys(state: ReadState) -> list[str]:
        return [risk_key(id), *profile_keys(ctx.catalog, id, gender.value, _shown(ctx, state))]

    return await ctx.answers.one(request, produce, keys)


@router.get(
    "/v1/omraden/{id}/indikatorer",
    response_model=ProfilePage,
    responses=LIST_RESPONSES,
    summary="An area profile as a table",
)
async def list_profile(
    request: Request,
    ctx: Ctx,
    view: ViewDep,
    id: IdPath,
    paging: PagingDep,
    fmt: FormatParam = None,
    gender: GenderQuery = Gender.T,
) -> Response:
    """The rows of the area profile: one per indicator, for BI tools (JSON or CSV)."""
    _area(ctx, id)

    def produce(conn: Connection, state: ReadState) -> list[dict[str, Any]]:
        rows = _profile(ctx, conn, state, id, gender.value)
        return [redaction.profile_row(row, view) for row in rows]

    def keys(state: ReadState) -> list[str]:
        return profile_keys(ctx.catalog, id, gender.value, _shown(ctx, state))

    return await ctx.answers.page(request, fmt, ProfileRow, paging, produce, keys)
