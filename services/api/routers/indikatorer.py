"""`/v1/indikatorer`: indicators with their status and inputs, and their current series."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import Connection
from starlette.responses import Response

from services.api import queries, redaction, views
from services.api.caching import ReadState
from services.api.deps import ApiContext, Ctx, FormatParam, PagingDep, ViewDep, split
from services.api.errors import bad_parameter, not_found
from services.api.moments import parse_past_time
from services.api.routers.common import DETAIL_RESPONSES, LIST_RESPONSES
from services.api.schemas.catalog import IndikatorOut, IndikatorPage
from services.api.schemas.series import SeriesPage, SeriesRow
from shared.domain.areas import last_day
from shared.domain.catalog import Gender, RiskGroup
from shared.domain.observation import ObservationStatus, utcnow
from shared.domain.periods import PeriodError, parse_period
from shared.domain.rollup import SERIES_LEVELS, Origin
from shared.domain.status import StatusCode

router = APIRouter(tags=["indikatorer"])

AreaParam = Annotated[
    str | None,
    Query(description="Judge the status for this area instead of the city.", examples=["rinkeby"]),
]
GenderQuery = Annotated[
    Gender, Query(description="Judge the status for this gender (T, K, M).", examples=["T"])
]
IdPath = Annotated[str, Path(description="Indicator id.", examples=["behorighet-gymnasiet-ak9"])]


def check_indicator(ctx: ApiContext, indicator_id: str) -> None:
    """404 unless the indicator is in the catalog."""
    if indicator_id not in ctx.catalog.indicator:
        raise not_found("indikator", indicator_id, "GET /v1/indikatorer")


@router.get(
    "/v1/indikatorer",
    response_model=IndikatorPage,
    responses=LIST_RESPONSES,
    summary="Every indicator with its status",
)
async def list_indikatorer(
    request: Request,
    ctx: Ctx,
    view: ViewDep,
    paging: PagingDep,
    fmt: FormatParam = None,
    area: AreaParam = None,
    gender: GenderQuery = Gender.T,
    status: Annotated[
        list[StatusCode] | None,
        Query(description="Only indicators with one of these statuses.", examples=[["forsamring"]]),
    ] = None,
    namnd: Annotated[
        list[str] | None,
        Query(
            description="Only indicators this nämnd is responsible for (ids).",
            examples=[["socialnamnden"]],
        ),
    ] = None,
    etappmal: Annotated[
        list[str] | None,
        Query(
            description="Only indicators of these etappmål (ids).",
            examples=[["behorighet-gymnasiet"]],
        ),
    ] = None,
    risk_group: Annotated[
        list[RiskGroup] | None,
        Query(description="Only indicators of these social-risk groups.", examples=[["halsa"]]),
    ] = None,
) -> Response:
    """The catalog entry of every indicator with its status, trend, latest value and status inputs."""
    catalog = ctx.catalog
    where_area = ctx.area_param("area", area)
    statuses = {s.value for s in status or []}
    namnder = set(split("namnd", namnd, set(catalog.namnd)))
    goals = set(split("etappmal", etappmal, set(catalog.goal)))
    groups = {g.value for g in risk_group or []}

    def produce(conn: Connection, state: ReadState) -> list[dict[str, Any]]:
        items = views.indikator_items(
            conn,
            catalog,
            ctx.indicator_entries,
            where_area,
            gender.value,
            ctx.as_of(state),
            ctx.projected,
        )
        return [
            item
            for item in (redaction.indicator(i, view) for i in items)
            if (not statuses or item["status"] in statuses)
            and (not groups or item["risk_group"] in groups)
            and (not goals or goals & set(item["etappmal"]))
            and (not namnder or namnder & {r["namnd"] for r in item["responsible"]})
        ]

    keys = views.status_keys(catalog, where_area, gender.value)
    return await ctx.answers.page(request, fmt, IndikatorOut, paging, produce, keys)


@router.get(
    "/v1/indikatorer/{id}",
    response_model=IndikatorOut,
    responses=DETAIL_RESPONSES,
    summary="One indicator with its status and inputs",
)
async def get_indikator(
    request: Request,
    ctx: Ctx,
    view: ViewDep,
    id: IdPath,
    area: AreaParam = None,
    gender: GenderQuery = Gender.T,
) -> Response:
    """One indicator: catalog entry, status, trend, latest value and every input of the status."""
    check_indicator(ctx, id)
    where_area = ctx.area_param("area", area)

    def produce(conn: Connection, state: ReadState) -> dict[str, Any]:
        items = views.indikator_items(
            conn,
            ctx.catalog,
            ctx.indicator_entries,
            where_area,
            gender.value,
            ctx.as_of(state),
            ctx.projected,
        )
        return redaction.indicator(next(item for item in items if item["id"] == id), view)

    keys = views.status_keys(ctx.catalog, where_area, gender.value, [id])
    return await ctx.answers.one(request, produce, keys)


def _period_bound(name: str, text: str | None, end: bool) -> float | None:
    if text is None:
        return None
    try:
        period = parse_period(text)
    except PeriodError as exc:
        raise bad_parameter(name, str(exc)) from None
    if not end:
        return period.decimal_start
    return period.end.year + (period.end.month - 1) / 12


@router.get(
    "/v1/indikatorer/{id}/observationer",
    response_model=SeriesPage,
    responses=LIST_RESPONSES,
    summary="The current series of an indicator",
)
async def list_observationer(
    request: Request,
    ctx: Ctx,
    view: ViewDep,
    id: IdPath,
    paging: PagingDep,
    fmt: FormatParam = None,
    area: Annotated[
        list[str] | None,
        Query(
            description="Only these areas (ids; repeat or comma-separate).",
            examples=[["rinkeby", "kista"]],
        ),
    ] = None,
    gender: Annotated[
        list[Gender] | None,
        Query(description="Only these genders (T, K, M).", examples=[["T"]]),
    ] = None,
    level: Annotated[
        list[str] | None,
        Query(
            description="Only areas of these levels: stad, stadsdelsomrade, stadsdel, virtual.",
            examples=[["stadsdel"]],
        ),
    ] = None,
    origin: Annotated[
        list[str] | None,
        Query(description="Only reported or only computed values.", examples=[["reported"]]),
    ] = None,
    status: Annotated[
        list[str] | None,
        Query(
            description="Only reported values that are preliminary or final.", examples=[["final"]]
        ),
    ] = None,
    start: Annotated[
        str | None,
        Query(
            alias="from",
            description="First period included (any period type: 2020, 2020-Q3, …).",
            examples=["2020"],
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(
            description="Last period included: periods starting before it ends.", examples=["2024"]
        ),
    ] = None,
    missing: Annotated[
        bool,
        Query(
            description="Also rows without a value (retracted, or no child reporting).",
            examples=[False],
        ),
    ] = False,
    changed_since: Annotated[
        str | None,
        Query(
            description="Only rows that changed at or after this time (RFC 3339, read as as_of "
            "is), rows without a value included (retracted: true when withdrawn); the answer's "
            "X-Data-As-Of is the next changed_since. Not with as_of or rapport.",
            examples=["2025-02-01T08:00:00Z"],
        ),
    ] = None,
) -> Response:
    """One row per area, period and gender: value, numerator, denominator, status, origin,
    coverage and knowledge times."""
    check_indicator(ctx, id)
    if changed_since is not None and {"as_of", "rapport"} & set(request.query_params):
        raise bad_parameter(
            "changed_since",
            "cannot be combined with as_of or rapport: a past moment has no changes",
        )
    where = queries.SeriesFilter(
        indicator=id,
        areas=split("area", area, ctx.areas),
        genders=tuple(g.value for g in gender or []),
        levels=split("level", level, SERIES_LEVELS),
        origins=split("origin", origin, {o.value for o in Origin}),
        statuses=split("status", status, {s.value for s in ObservationStatus}),
        start=_period_bound("from", start, end=False),
        end=_period_bound("to", to, end=True),
        include_missing=missing,
        changed_since=None
        if changed_since is None
        else parse_past_time(
            "changed_since", changed_since, utcnow(), "the read model knows only the past"
        ),
    )
    unit = ctx.catalog.indicator[id].unit

    def produce(conn: Connection, state: ReadState) -> tuple[int, list[dict[str, Any]]]:
        total, rows = queries.series_page(conn, where, paging.limit, paging.offset)
        return total, [
            redaction.series_row(row | {"unit": unit, "tree": last_day(row["period"])}, view)
            for row in rows
        ]

    return await ctx.answers.page(request, fmt, SeriesRow, paging, produce)
