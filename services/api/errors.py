"""Errors as `application/problem+json`: 404 names the unknown id, 400 names each bad parameter.

Validation errors of FastAPI (422 by default) become 400 with one entry per parameter; nothing a
client sends may cause a 5xx.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from services.api.caching import NO_STORE
from services.api.schemas.common import Problem
from shared.http_params import QueryFaults

PROBLEM_TYPE = "application/problem+json"
JSON_TYPE = "application/json"
log = logging.getLogger("stadspuls.api")


class ApiError(Exception):
    """An answer other than 2xx, with what went wrong."""

    def __init__(
        self, status: int, detail: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []


def not_found(kind: str, value: str, known: str) -> ApiError:
    """404 for an unknown id, saying where the known ids are listed."""
    return ApiError(404, f"no {kind} with id {value!r}; {known} lists them")


def bad_parameter(name: str, message: str, location: str = "query") -> ApiError:
    """400 for one bad parameter."""
    return ApiError(
        400, f"{name}: {message}", [{"parameter": name, "location": location, "message": message}]
    )


def query_refused(faults: QueryFaults, known: Collection[str]) -> ApiError:
    """400 for query parameters the endpoint does not take (naming those it does) and for
    single-valued ones given more than once."""
    entries = [
        {"parameter": name, "location": "query", "message": message}
        for name, message in faults.messages(known)
    ]
    parts = []
    if faults.unknown:
        listed = ", ".join(repr(name) for name in faults.unknown)
        plural = "s" if len(faults.unknown) > 1 else ""
        takes = entries[0]["message"].removeprefix("unknown query parameter; ")
        parts.append(f"unknown query parameter{plural} {listed}; {takes}")
    parts += [f"{name}: given {count} times; it takes one value" for name, count in faults.repeated]
    return ApiError(400, "; ".join(parts), entries)


def problem(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> Response:
    """A problem document response."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=PROBLEM_TYPE,
        headers={"Cache-Control": NO_STORE},
    )


def _parameter_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        location = loc[0] if loc and loc[0] in ("query", "path", "header") else "query"
        name = loc[1] if len(loc) > 1 else (loc[0] if loc else "request")
        message = str(err.get("msg", "invalid value"))
        if "input" in err and err["input"] is not None and err.get("type") != "missing":
            message += f" (got {err['input']!r})"
        errors.append({"parameter": name, "location": location, "message": message})
    return errors


def install(app: FastAPI) -> None:
    """Register the problem handlers on an app."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return problem(exc.status, exc.detail, exc.errors)

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = _parameter_errors(exc)
        detail = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors)
        return problem(400, detail or "bad request", errors)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}; see /docs for the API"
        response = problem(exc.status_code, detail)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def unavailable(request: Request, exc: Exception) -> Response:
        log.warning("read model unavailable on %s: %s", request.url.path, str(exc).splitlines()[0])
        response = problem(503, "the read model is unavailable; try again shortly")
        response.headers["Retry-After"] = "5"
        return response

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; it has been logged")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DBAPIError, unavailable)
    app.add_exception_handler(Exception, unexpected)


def openapi_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Document errors as they are sent: problem+json, and 400 instead of FastAPI's 422."""
    problem_ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault(
                    "400",
                    {
                        "description": "A parameter is malformed.",
                        "content": {PROBLEM_TYPE: problem_ref},
                    },
                )
            if any(p.get("name") == "rapport" for p in operation.get("parameters", [])):
                responses.setdefault(
                    "404",
                    {
                        "description": "No frozen report has that id (`GET /v1/rapporter`).",
                        "content": {PROBLEM_TYPE: problem_ref},
                    },
                )
            for response in responses.values():
                content = response.get("content", {})
                if content.get(JSON_TYPE, {}).get("schema") == problem_ref["schema"]:
                    content[PROBLEM_TYPE] = content.pop(JSON_TYPE)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for a problem document (FastAPI registers the model)."""
    return {"description": description, "model": Problem}
