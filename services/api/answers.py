"""Turning rows into HTTP answers: JSON or CSV, paged, with ETag, 304, X-Data-As-Of, Cache-Control.

A route hands `Answers.page` (or `.one`) a function of (connection, read state) and the answer
keys it reads (`services.api.caching`); the function only runs when neither the client's copy
(If-None-Match → 304) nor this replica's memo, rendered at the same revisions of those keys, can
answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import orjson
from pydantic import BaseModel
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from services.api import csv
from services.api.auth import reader_of
from services.api.caching import (
    CACHE_CONTROL,
    PRIVATE_CACHE_CONTROL,
    AnswerMemo,
    ReadState,
    Rendered,
    StateCache,
    make_etag,
    matches,
    rfc3339,
)

JSON_TYPE = "application/json"
JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
Rows = Sequence[dict[str, Any]]
Producer = Callable[[Connection, ReadState], Any]
Renderer = Callable[[Connection, ReadState, bool], Rendered]
# the answer keys an answer reads (None: the global revision), or what names them in a read state
Keys = Sequence[str] | Callable[[ReadState], Sequence[str]] | None


@dataclass(frozen=True)
class Paging:
    """`limit` and `offset` of a list request."""

    limit: int
    offset: int


def _route(request: Request) -> str:
    path = getattr(request.scope.get("route"), "path", None)
    return path if isinstance(path, str) else request.url.path


#: What an answer can be: JSON, CSV for lists (`format=` or `Accept`).
OFFERED = (JSON_TYPE, "text/csv")


def _accept_weights(accept: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.strip().lower()
        if media:
            weights[media] = max(q, weights.get(media, 0.0))
    return weights


def _quality(weights: dict[str, float], ranges: Sequence[str]) -> float | None:
    """The q of the first of `ranges` (most specific first) that `Accept` names; None if none."""
    return next((weights[r] for r in ranges if r in weights), None)


def _ranges(media: str) -> tuple[str, str, str]:
    """A media type and the ranges that cover it, most specific first."""
    return (media, f"{media.split('/', 1)[0]}/*", "*/*")


def acceptable(request: Request) -> bool:
    """False when `Accept` asks only for types no answer is (`application/xml`, `image/*`): a 406,
    not JSON the client did not ask for. No header, or one refusing everything it names, takes
    JSON; a type named outweighs the wildcards that cover it (`*/*;q=0` refuses the rest)."""
    accept = request.headers.get("accept")
    if not accept or accept == "*/*":
        return True
    weights = _accept_weights(accept)
    if not any(q > 0 for q in weights.values()):
        return True
    # the most specific range named decides
    return any((_quality(weights, _ranges(media)) or 0.0) > 0 for media in OFFERED)


def wants_csv(request: Request, fmt: str | None) -> bool:
    """CSV when `format=csv`, or when Accept prefers text/csv to application/json."""
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "").lower()  # media types are case-insensitive
    if "csv" not in accept and "text/*" not in accept:
        return False
    weights = _accept_weights(accept)
    if "text/csv" in weights:  # named: it wins a tie with JSON
        csv_q = weights["text/csv"]
        return csv_q > 0 and csv_q >= weights.get(JSON_TYPE, 0.0)
    # only `text/*` covers it: CSV when JSON is not taken at least as gladly
    return weights.get("text/*", 0.0) > (_quality(weights, _ranges(JSON_TYPE)) or 0.0)


def accepts_gzip(request: Request) -> bool:
    """True when Accept-Encoding names gzip (and does not refuse it with q=0)."""
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _variant(request: Request, as_csv: bool) -> str:
    """What, besides the read state and catalog, an answer depends on: path, query, format and
    what the reader may see (so one view's ETag never validates, nor its memo answers, another)."""
    query = urlencode(sorted(request.query_params.multi_items()))
    view = reader_of(request).view.value
    return f"{request.url.path}?{query}|{'csv' if as_csv else 'json'}|{view}"


def _respond(request: Request, state: ReadState, etag: str, rendered: Rendered | None) -> Response:
    """The HTTP answer: 304 when `rendered` is None, else the body (gzip if the client takes it).

    An answer to a token holder is `private`: no shared cache may hand it to anyone else; and
    every answer varies by `Authorization`, since who asks decides what is seen.
    """
    private = reader_of(request).authenticated
    headers = {
        "ETag": etag,
        "Cache-Control": PRIVATE_CACHE_CONTROL if private else CACHE_CONTROL,
        "Vary": "Accept, Accept-Encoding, Authorization",
    }
    # an answer of changes says where the next one starts (the state was read before its rows)
    changes = "changed_since" in request.query_params
    moment = state.changes_as_of() if changes else None
    as_of = rfc3339(moment) if moment else None if changes else state.header()
    if as_of:
        headers["X-Data-As-Of"] = as_of
    if rendered is None or matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    headers.update(rendered.headers)
    body = rendered.body
    if rendered.gzipped is not None and accepts_gzip(request):
        body = rendered.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=rendered.media_type, headers=headers)


def _links(request: Request, paging: Paging, total: int) -> str | None:
    links = []
    # every value of a repeated list filter (`?area=kista&area=husby`), in the order given
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
    for rel, offset in (
        ("prev", max(0, paging.offset - paging.limit) if paging.offset > 0 else None),
        ("next", paging.offset + paging.limit if paging.offset + paging.limit < total else None),
    ):
        if offset is not None:
            url = request.url.path + "?" + urlencode([*query, ("offset", str(offset))])
            links.append(f'<{url}>; rel="{rel}"')
    return ", ".join(links) or None


class Answers:
    """Renders answers for one app: its engine, read state, memo and catalog tag."""

    def __init__(
        self,
        engine: Engine,
        catalog_tag: str,
        memo: AnswerMemo,
        state: StateCache,
        keyed: bool = True,
        on_render: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.keyed = keyed  # False: a past moment's, whose one revision names what it counted
        self.on_render = on_render  # told the route of every answer rendered (not memoised)
        self.catalog_tag = catalog_tag
        self.memo = memo
        self.state = state
        self._pending: dict[str, asyncio.Future[Rendered]] = {}

    async def page(
        self,
        request: Request,
        fmt: str | None,
        model: type[BaseModel],
        paging: Paging,
        produce: Producer,
        keys: Keys = None,
    ) -> Response:
        """A list answer; `produce` returns all rows, or (total, rows of this page) if it pages."""

        def render(conn: Connection, state: ReadState, as_csv: bool) -> Rendered:
            produced = produce(conn, state)
            if isinstance(produced, tuple):
                total, items = produced
            else:
                total, items = len(produced), produced[paging.offset : paging.offset + paging.limit]
            headers = [("X-Total-Count", str(total))]
            link = _links(request, paging, total)
            if link:
                headers.append(("Link", link))
            route = _route(request)
            if as_csv:
                name = request.url.path.rstrip("/").rsplit("/", 1)[-1] or "answer"
                headers.append(("Content-Disposition", f'attachment; filename="{name}.csv"'))
                return Rendered(csv.render(model, items), csv.CONTENT_TYPE, tuple(headers), route)
            body = {"total": total, "limit": paging.limit, "offset": paging.offset, "items": items}
            body_bytes = orjson.dumps(body, option=JSON_OPTIONS)
            return Rendered(body_bytes, JSON_TYPE, tuple(headers), route)

        return await self._answer(request, wants_csv(request, fmt), render, keys)

    async def one(self, request: Request, produce: Producer, keys: Keys = None) -> Response:
        """A single-resource JSON answer; `produce` returns the document."""

        def render(conn: Connection, state: ReadState, as_csv: bool) -> Rendered:
            body = orjson.dumps(produce(conn, state), option=JSON_OPTIONS)
            return Rendered(body, JSON_TYPE, route=_route(request))

        return await self._answer(request, False, render, keys)

    def _etag(self, state: ReadState, variant: str, keys: Sequence[str] | None) -> str:
        return make_etag(state, self.catalog_tag, variant, keys if self.keyed else None)

    async def _answer(
        self, request: Request, as_csv: bool, render: Renderer, keys: Keys
    ) -> Response:
        state = await self.state.current()
        named = keys(state) if callable(keys) else keys
        variant = _variant(request, as_csv)
        etag = self._etag(state, variant, named)
        if matches(request.headers.get("if-none-match"), etag):
            return _respond(request, state, etag, None)
        memoised = self.memo.get(self._memo_key(variant))
        if memoised is not None and memoised.etag == etag:
            return _respond(request, state, etag, memoised)
        fixed = None if named is None else tuple(named)
        rendered = await self._render_once(variant, etag, fixed, state, as_csv, render)
        return _respond(request, state, etag, rendered)

    def _memo_key(self, variant: str) -> str:
        return f"{self.catalog_tag}|{variant}"

    def replay(self, request: Request) -> Response | None:
        """The answer to a GET this replica has already rendered at the current read state, or
        None. Only rendered answers are memoised, so the URL was valid; skipping the framework
        here is what makes a repeated request cheap."""
        state = self.state.peek()
        formats = request.query_params.getlist("format")
        if state is None or len(formats) > 1 or not set(formats) <= {"json", "csv"}:
            return None
        if not formats and not acceptable(request):
            return None  # the route answers 406
        as_csv = wants_csv(request, formats[0] if formats else None)
        variant = _variant(request, as_csv)
        rendered = self.memo.get(self._memo_key(variant))
        if rendered is None:
            return None
        etag = self._etag(state, variant, rendered.keys)
        if etag != rendered.etag:  # something it reads changed since
            return None
        request.scope["route_template"] = rendered.route
        return _respond(request, state, etag, rendered)

    async def _render_once(
        self,
        variant: str,
        etag: str,
        keys: tuple[str, ...] | None,
        state: ReadState,
        as_csv: bool,
        render: Renderer,
    ) -> Rendered:
        """Render in a worker thread; concurrent requests for the same answer wait for one render."""
        pending = self._pending.get(etag)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Rendered] = asyncio.get_running_loop().create_future()
        self._pending[etag] = future
        try:
            rendered = await run_in_threadpool(self._render, state, as_csv, render)
            rendered = replace(rendered, etag=etag, keys=keys)
            if self.on_render is not None:
                self.on_render(rendered.route)
            self.memo.put(self._memo_key(variant), rendered)
            future.set_result(rendered)
            return rendered
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited failure is not logged twice
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._pending[etag]

    def _render(self, state: ReadState, as_csv: bool, render: Renderer) -> Rendered:
        with self.engine.connect() as conn:
            rendered = render(conn, state, as_csv)
        return rendered.compressed()
