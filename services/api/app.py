"""The read API for BI tools and other systems. Run with `stadspuls serve api`.

A stateless FastAPI app over the SQL read model: every replica reads the same database with
SQLAlchemy Core and holds nothing another replica needs. `create_app` is the composition root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from alembic.script import ScriptDirectory
from fastapi import Depends, FastAPI
from sqlalchemy import Engine

from services.api import errors
from services.api.answers import Answers
from services.api.auth import ReaderAuth, ReaderMiddleware, openapi_security
from services.api.caching import STATE_MAX_AGE, AnswerMemo, StateCache
from services.api.db import read_only
from services.api.deps import ApiContext, KnownParameters
from services.api.metrics import ApiMetrics
from services.api.moments import PastContexts, catalog_tag
from services.api.profiles import known_areas
from services.api.replay import ReplayMiddleware
from services.api.routers import catalog as catalog_routes
from services.api.routers import (
    etappmal,
    health,
    historik,
    indikatorer,
    namnder,
    omraden,
    rapporter,
)
from shared.catalog.loader import catalog_document, load_catalog
from shared.db.engine import alembic_config, make_engine
from shared.domain.catalog import Catalog
from shared.http_head import HeadAsGet
from shared.http_metrics import HttpMetricsMiddleware
from shared.production import check_production
from shared.settings import Settings

DESCRIPTION = """\
Status of Stockholm's social-sustainability roadmap for BI tools and other systems.

* Every list answers JSON `{"total", "limit", "offset", "items"}` by default and CSV (same rows,
  flattened, UTF-8, header row) with `Accept: text/csv` or `?format=csv`. Page with `limit`/`offset`.
* Every answer carries `ETag` (send it back in `If-None-Match` for a `304`), `X-Data-As-Of` (newest
  `received_at` reflected) and `Cache-Control`.
* Errors are `application/problem+json`; `400` names each bad or unknown parameter, `404` the
  unknown id.
* `Authorization: Bearer <token>` (a reader token from `stadspuls readers create`, or an OIDC
  token of the configured issuer) sees everything. Without one a reader sees what
  `STADSPULS_API_ANONYMOUS` allows: `all`, `final` (anything with a preliminary contribution is
  withheld: its values are null and `published` is false) or `none` (401). A token that does not
  verify is always 401. Answers to token holders are `Cache-Control: private`; every answer
  varies by `Authorization`.
"""


def create_app(
    settings: Settings, *, engine: Engine | None = None, catalog: Catalog | None = None
) -> FastAPI:
    """Build the API with its real adapters: the read model's engine and the catalog."""
    catalog = catalog or load_catalog(settings.catalog_path)
    engine = read_only(engine or make_engine(settings.database_url))
    document = catalog_document(catalog)
    tag = catalog_tag(document)
    metrics = ApiMetrics()
    state = StateCache(engine, STATE_MAX_AGE)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.openapi()  # once, before the first request: unknown query parameters are checked on it
        state.start()
        try:
            yield
        finally:
            state.stop()
            app.state.past.close()

    app = FastAPI(
        title="Stadspuls read API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.context = ApiContext(
        catalog=catalog,
        engine=engine,
        answers=Answers(
            engine,
            tag,
            AnswerMemo(),
            state,
            on_render=lambda route: metrics.renders.labels(route).inc(),
        ),
        metrics=metrics,
        catalog_document=document,
        indicator_entries={entry["id"]: entry for entry in document["indikatorer"]},
        migrations=_migrations(settings.database_url),
        areas=known_areas(catalog),
    )
    app.state.past = PastContexts(app.state.context)
    known = Depends(KnownParameters())
    for module in (catalog_routes, etappmal, namnder, indikatorer, historik, omraden, rapporter):
        app.include_router(module.router, dependencies=[known])
    app.include_router(health.router)
    errors.install(app)
    app.add_middleware(ReplayMiddleware, answers=app.state.context.answers)
    # before the replay memo: every answer, memoised or not, is the one its reader may see
    app.add_middleware(ReaderMiddleware, auth=ReaderAuth(engine, settings))
    app.add_middleware(
        HttpMetricsMiddleware, metrics=metrics.http
    )  # outside the replays: they are counted too
    app.add_middleware(HeadAsGet)  # outermost: a HEAD is its GET everywhere inside
    _document_problems(app)
    return app


def app_from_environment() -> FastAPI:
    """The API configured from `STADSPULS_*` (for `uvicorn --factory ... --workers N`)."""
    settings = Settings()
    check_production(settings)
    return create_app(settings)


def _migrations(url: str) -> tuple[str | None, frozenset[str]]:
    """The newest schema revision this code knows, and every revision it knows."""
    script = ScriptDirectory.from_config(alembic_config(url))
    known = frozenset(r.revision for r in script.walk_revisions())
    return script.get_current_head(), known


def _document_problems(app: FastAPI) -> None:
    """OpenAPI: our 400 problem documents instead of FastAPI's 422."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_security(errors.openapi_problems(build()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
