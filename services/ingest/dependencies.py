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


class UnauthorizedError(Exception):
    """No valid source key: answered 401."""


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
