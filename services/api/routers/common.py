"""OpenAPI answers every list and every detail route documents besides its 200."""

from __future__ import annotations

from typing import Any

from services.api.csv import CONTENT_TYPE as CSV_TYPE
from services.api.errors import problem_response

_HEADERS = {
    "ETag": {
        "description": "Changes whenever the answer may change.",
        "schema": {"type": "string"},
    },
    "X-Data-As-Of": {
        "description": "Newest received_at reflected in the read model (RFC 3339, UTC); absent while it is empty.",
        "schema": {"type": "string", "format": "date-time"},
    },
    "Cache-Control": {
        "description": "How long the answer may be reused.",
        "schema": {"type": "string"},
    },
}
_NOT_MODIFIED: dict[str, Any] = {
    "description": "Not modified: the If-None-Match ETag is still current.",
    "headers": _HEADERS,
}

LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page of rows: JSON `{total, limit, offset, items}`, or CSV (same rows, flattened, header row).",
        "headers": _HEADERS
        | {"X-Total-Count": {"description": "Rows in all pages.", "schema": {"type": "integer"}}},
        "content": {CSV_TYPE: {"schema": {"type": "string"}}},
    },
    304: _NOT_MODIFIED,
    400: problem_response("A parameter is malformed, out of range or unknown."),
    404: problem_response("An id in the path is unknown."),
    406: problem_response("`Accept` names neither JSON nor CSV (nor a wildcard)."),
    503: problem_response("The read model is unreachable; retry after `Retry-After` seconds."),
}

DETAIL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The resource.", "headers": _HEADERS},
    304: _NOT_MODIFIED,
    400: problem_response("A parameter is malformed, out of range or unknown."),
    404: problem_response("The id is unknown."),
    406: problem_response("`Accept` names neither JSON, CSV nor a wildcard."),
    503: problem_response("The read model is unreachable; retry after `Retry-After` seconds."),
}
