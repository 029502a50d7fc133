"""Dependencies of the routes: the app's context and the parameters lists share."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from services.api.answers import OFFERED, Answers, Paging, acceptable
from services.api.auth import View, reader_of
from services.api.caching import ReadState
from services.api.errors import ApiError, bad_parameter, query_refused
from services.api.metrics import ApiMetrics
from shared.domain.catalog import Catalog
from shared.http_params import DeclaredParameters

if TYPE_CHECKING:
    from services.api.moments import PastContexts
    from services.api.past import Moment
from shared.domain.observation import as_utc, utcnow

DEFAULT_LIMIT = 1000
MAX_LIMIT = 50_000
MAX_OFFSET = 2**31 - 1


class Format(StrEnum):
    """Representation of a list answer."""

    JSON = "json"
    CSV = "csv"


@dataclass(frozen=True)
class ApiContext:
    """What every route needs: the catalog, the read engine, answer rendering, metrics."""

    catalog: Catalog
    engine: Engine
    answers: Answers
    metrics: ApiMetrics
    catalog_document: dict[str, Any]
    indicator_entries: dict[str, dict[str, Any]]
    migrations: tuple[str | None, frozenset[str]]  # (head, every known revision)
    areas: frozenset[str]  # every area id the read model can hold, virtual ones included
    # of a past moment: the read model it was built from and what it counted (`historik` reads
    # the versions there, as they were recorded)
    past_of: tuple[Engine, Moment] | None = None
    # the aggregator projected every area's statuses (the present); a past moment has only the
    # city's, the others are computed on request
    projected: bool = True

    def as_of(self, state: ReadState) -> datetime:
        """The moment statuses computed on request are judged at: the read model's last change."""
        moments = [as_utc(m) for m in (state.committed_at, state.refreshed_at) if m]
        return max(moments, default=None) or utcnow()

    def area_param(self, name: str, value: str | None) -> str:
        """A known area id, the city when absent, else 400 naming the parameter."""
        if value is None:
            return self.catalog.root
        if value not in self.areas:
            raise bad_parameter(name, f"unknown area {value!r}; GET /v1/omraden lists them")
        return value


AsOfParam = Annotated[
    str | None,
    Query(
        alias="as_of",
        description="The answer as it stood at this knowledge time (RFC 3339): only versions "
        "received by then count, judged then, with the catalog in force then. Not in the future.",
        examples=["2025-09-01T00:00:00Z"],
    ),
]
RapportParam = Annotated[
    str | None,
    Query(
        alias="rapport",
        description="The answer of a frozen report (its `as_of`; GET /v1/rapporter lists them).",
        examples=["T2-2025"],
    ),
]


async def get_context(
    request: Request, as_of: AsOfParam = None, rapport: RapportParam = None
) -> ApiContext:
    """The app's context; with `as_of` or `rapport`, the context of that past moment."""
    context: ApiContext = request.app.state.context
    if as_of is None and rapport is None:
        return context
    past: PastContexts = request.app.state.past
    return await run_in_threadpool(past.context, as_of, rapport)


async def get_present_context(request: Request) -> ApiContext:
    """The app's context as it is now: health and metrics never answer about the past."""
    context: ApiContext = request.app.state.context
    return context


async def get_view(request: Request) -> View:
    """What the request's reader may see (resolved by `auth.ReaderMiddleware`)."""
    return reader_of(request).view


async def get_paging(
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_LIMIT,
            description=f"Most rows on one page (1–{MAX_LIMIT}).",
            examples=[100],
        ),
    ] = DEFAULT_LIMIT,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip before this page.", examples=[0])
    ] = 0,
) -> Paging:
    """`limit`/`offset` of a list."""
    return Paging(limit, offset)


class KnownParameters:
    """A dependency of every /v1 route: 400 naming each query parameter its OpenAPI does not list,
    and each single-valued one given more than once (shared/http_params.py); 406 for an `Accept`
    that names only types no answer is in."""

    def __init__(self) -> None:
        self._declared = DeclaredParameters()

    async def __call__(self, request: Request) -> None:
        faults, known = self._declared.judge(request)
        if faults:
            raise query_refused(faults, known)
        if "format" not in request.query_params and not acceptable(request):
            raise ApiError(
                406,
                f"Accept: {request.headers.get('accept')} names no type this endpoint answers in;"
                f" it answers {' or '.join(OFFERED)} (lists; or give format=json|csv)",
            )


def split(
    name: str, values: list[str] | None, allowed: Collection[str] | None = None
) -> tuple[str, ...]:
    """Repeated and comma-separated values of a list parameter, checked against `allowed`."""
    result: list[str] = []
    for value in values or []:
        for part in value.split(","):
            part = part.strip()
            if not part:
                raise bad_parameter(name, "empty value; leave the parameter out to not filter")
            if allowed is not None and part not in allowed:
                raise bad_parameter(name, f"unknown value {part!r}")
            result.append(part)
    return tuple(dict.fromkeys(result))


Ctx = Annotated[ApiContext, Depends(get_context)]
PresentCtx = Annotated[ApiContext, Depends(get_present_context)]
ViewDep = Annotated[View, Depends(get_view)]
PagingDep = Annotated[Paging, Depends(get_paging)]
FormatParam = Annotated[
    Format | None,
    Query(
        alias="format",
        description="`json` (default) or `csv`; overrides the Accept header (`text/csv`).",
        examples=["csv"],
    ),
]
