"""Query parameters an operation does not take, or repeats though it takes one value.

A mistyped parameter (`?dryrun=true`, `?aera=rinkeby`) would otherwise be ignored: a dry run
would publish, a filter would filter nothing. A repeated single-valued one (`?area=a&area=b`)
would keep one of its values without saying which. Both services refuse them with a 400 naming
the parameter; what an operation takes is read from its OpenAPI description.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request


def declared_parameters(openapi: Mapping[str, Any], method: str, path: str) -> dict[str, bool]:
    """The query parameters of an operation, each with whether it takes a list of values."""
    operation = openapi.get("paths", {}).get(path, {}).get(method.lower(), {})
    return {
        p["name"]: _takes_list(p.get("schema", {}))
        for p in operation.get("parameters", [])
        if p.get("in") == "query"
    }


def _takes_list(schema: Mapping[str, Any]) -> bool:
    if schema.get("type") == "array":
        return True
    return any(_takes_list(part) for part in schema.get("anyOf", ()))


@dataclass(frozen=True)
class QueryFaults:
    """What is wrong with a request's query parameters: nothing when both are empty."""

    unknown: tuple[str, ...] = ()
    repeated: tuple[tuple[str, int], ...] = ()  # (name, how many times given)

    def __bool__(self) -> bool:
        return bool(self.unknown or self.repeated)

    def messages(self, known: Iterable[str]) -> list[tuple[str, str]]:
        """(parameter, message) for each fault, the unknown ones naming what the operation takes."""
        names = sorted(known)
        takes = (
            f"this endpoint takes {', '.join(names)}"
            if names
            else "this endpoint takes no query parameters"
        )
        return [(name, f"unknown query parameter; {takes}") for name in self.unknown] + [
            (name, f"given {count} times; it takes one value") for name, count in self.repeated
        ]


def query_faults(items: Iterable[tuple[str, str]], declared: Mapping[str, bool]) -> QueryFaults:
    """The faults of the (name, value) pairs of a query against what an operation declares."""
    counts = Counter(name for name, _ in items)
    return QueryFaults(
        tuple(name for name in counts if name not in declared),
        tuple(
            (name, count)
            for name, count in counts.items()
            if count > 1 and declared.get(name) is False
        ),
    )


class DeclaredParameters:
    """Judges a request's query against its operation's OpenAPI, read once per operation."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], dict[str, bool]] = {}

    def judge(self, request: Request) -> tuple[QueryFaults, dict[str, bool]]:
        """The faults of the request's query, and what its operation takes."""
        if not request.query_params:
            return QueryFaults(), {}
        path = getattr(request.scope.get("route"), "path", request.url.path)
        key = (request.method.lower(), path)
        if key not in self._known:
            self._known[key] = declared_parameters(request.app.openapi(), *key)
        known = self._known[key]
        return query_faults(request.query_params.multi_items(), known), known
