"""`/v1/catalog`: målområden, etappmål, indikatorer, nämnder, områden and källor."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection
from starlette.responses import Response

from services.api.caching import ReadState
from services.api.deps import Ctx
from services.api.routers.common import DETAIL_RESPONSES
from services.api.schemas.catalog import CatalogOut

router = APIRouter(tags=["katalog"])


@router.get(
    "/v1/catalog",
    response_model=CatalogOut,
    responses={k: v for k, v in DETAIL_RESPONSES.items() if k != 404},
    summary="The catalog",
)
async def get_catalog(request: Request, ctx: Ctx) -> Response:
    """The whole catalog the services run with (no secrets)."""

    def produce(conn: Connection, state: ReadState) -> dict[str, Any]:
        return ctx.catalog_document

    return await ctx.answers.one(request, produce)
