"""FastAPI dependencies of the ingest service: its state and the authenticated source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import Engine

from services.ingest.auth import KeyVerifier
from services.ingest.metrics import IngestMetrics
from services.ingest.ports import Publisher
from services.ingest.service import IngestService
from services.ingest.throttle import SourceThrottle, Throttled
from shared.domain.catalog import Catalog
from shared.settings import Settings


@dataclass
class IngestState:
    """Everything a request handler needs, built once by `create_app`."""

    settings: Settings
    catalog: Catalog
    engine: Engine
    publisher: Publisher
    metrics: IngestMetrics
    service: IngestService
    keys: KeyVerifier
    throttle: SourceThrottle


class UnauthorizedError(Exception):
    """No valid source key: answered 401."""


class RateLimitedError(Exception):
    """The source is over its request budget: answered 429."""

    def __init__(self, throttled: Throttled) -> None:
        super().__init__(throttled.limit)
        self.throttled = throttled


def get_state(request: Request) -> IngestState:
    """The app's IngestState."""
    state: IngestState = request.app.state.ingest
    return state


State = Annotated[IngestState, Depends(get_state)]


async def get_source(
    state: State,
    authorization: Annotated[str | None, Header(description="`Bearer <source key>`.")] = None,
) -> str:
    """The source whose key the request carries; 401 otherwise."""
    source = await state.keys.source_for(authorization)
    if source is None:
        raise UnauthorizedError
    return source


SourceDep = Annotated[str, Depends(get_source)]


async def get_admitted_source(state: State, source: SourceDep) -> str:
    """The authenticated source, once its request budget allows this request; 429 otherwise."""
    if throttled := state.throttle.request(source):
        state.metrics.throttled.labels(source, throttled.limit).inc()
        raise RateLimitedError(throttled)
    return source


AdmittedSourceDep = Annotated[str, Depends(get_admitted_source)]
