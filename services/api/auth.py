"""Who reads: a reader token, an OIDC bearer token, or nobody (`STADSPULS_API_ANONYMOUS`).

A token that verifies sees everything; a request without one sees what `api_anonymous` allows
(`all`, `final`: nothing preliminary, `none`: 401). A token that does not verify is 401 whatever
`api_anonymous` says: a mistyped or revoked token never quietly becomes an anonymous reader. The
reader is resolved before the replay memo (`ReaderMiddleware`), so every answer is the one its
reader may see.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.errors import PROBLEM_TYPE, problem
from services.api.oidc import OidcVerifier, TokenError
from services.api.readers import token_id_of, verify_reader
from shared.settings import Settings
from shared.tokens import VerifiedCache, bearer, hash_key

SCOPE_KEY = "stadspuls.reader"


class View(StrEnum):
    """What a reader may see."""

    FULL = "full"
    FINAL = "final"  # nothing with a preliminary contribution


@dataclass(frozen=True)
class Reader:
    """The reader of one request."""

    view: View
    authenticated: bool
    name: str | None = None


# outside `ReaderMiddleware` (no /v1 route): the view that withholds, so a request the middleware
# missed never sees more than an anonymous reader under `final`
UNRESOLVED = Reader(View.FINAL, authenticated=False)


def reader_of(request: Request) -> Reader:
    """The reader `ReaderMiddleware` resolved for this request, else an anonymous `final` one."""
    found = request.scope.get(SCOPE_KEY)
    return found if isinstance(found, Reader) else UNRESOLVED


def route_path(scope: Scope) -> str:
    """The path the routes see: without the `root_path` a proxy mounts the API under, which
    uvicorn's `--root-path` puts in front of `path` (routing strips it again)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class ReaderAuth:
    """Maps an `Authorization` header to a reader, or raises TokenError (401)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._secret = settings.key_secret.get_secret_value()
        self._cache = VerifiedCache[str](settings.ingest_key_cache_seconds)
        self.anonymous = settings.api_anonymous
        self._oidc = (
            OidcVerifier(settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks_url)
            if settings.oidc_issuer and settings.oidc_audience and settings.oidc_jwks_url
            else None
        )
        # OIDC checks wait for the provider: their own threads, so a slow or hanging provider
        # never holds the threads reader tokens are looked up on
        self._oidc_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="oidc")

    async def reader(self, authorization: str | None) -> Reader:
        """The reader of a request with this header."""
        if not authorization:
            if self.anonymous == "none":
                raise TokenError("this API needs a token: send Authorization: Bearer <token>", None)
            return Reader(View.FINAL if self.anonymous == "final" else View.FULL, False)
        token = bearer(authorization)
        if token is None:
            raise TokenError("Authorization must be `Bearer <token>`", "invalid_request")
        if token_id_of(token) is not None:
            return Reader(View.FULL, True, await self._reader_token(token))
        if self._oidc is not None and token.count(".") == 2:
            loop = asyncio.get_running_loop()
            subject = await loop.run_in_executor(self._oidc_threads, self._oidc.subject, token)
            return Reader(View.FULL, True, f"oidc:{subject}")
        hint = "" if self._oidc else " (OIDC tokens are not configured)"
        raise TokenError(f"unknown token: not a reader token{hint}")

    async def _reader_token(self, token: str) -> str:
        digest = hash_key(self._secret, token)
        name = self._cache.get(digest)
        if name is None:
            name = await asyncio.to_thread(verify_reader, self._engine, self._secret, token)
            self._cache.put(digest, name)
        if name is None:
            raise TokenError("unknown or revoked reader token")
        return name


class ReaderMiddleware:
    """Resolves the reader of every `/v1` request, or answers 401 with `WWW-Authenticate`."""

    def __init__(self, app: ASGIApp, auth: ReaderAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and route_path(scope).startswith("/v1"):
            request = Request(scope)
            try:
                scope[SCOPE_KEY] = await self.auth.reader(request.headers.get("authorization"))
            except TokenError as exc:
                await unauthorized(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def unauthorized(exc: TokenError) -> Response:
    """401 with the reason, in the body and in `WWW-Authenticate` (RFC 6750)."""
    response = problem(401, exc.reason)
    challenge = 'Bearer realm="stadspuls"'
    if exc.error:
        description = exc.reason.replace('"', "'")
        challenge += f', error="{exc.error}", error_description="{description}"'
    response.headers["WWW-Authenticate"] = challenge
    return response


SECURITY_SCHEME = "readerToken"
_PROBLEM = {"schema": {"$ref": "#/components/schemas/Problem"}}


def openapi_security(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI: the bearer scheme, optional on every /v1 operation, and its 401."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A reader token (`stadspuls readers create NAME`) or an OIDC access token "
        "of the configured issuer and audience. Optional unless STADSPULS_API_ANONYMOUS=none.",
    }
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/v1"):
            continue
        for operation in operations.values():
            operation["security"] = [{SECURITY_SCHEME: []}, {}]
            operation.setdefault("responses", {})["401"] = {
                "description": "The token is unknown, revoked, expired or not for this API, "
                "or one is required (STADSPULS_API_ANONYMOUS=none); see WWW-Authenticate.",
                "content": {PROBLEM_TYPE: _PROBLEM},
            }
    return schema
