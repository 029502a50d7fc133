"""HTTP request metrics shared by the ingest and api services, and the middleware that feeds them.

Requests are labelled by route template (`/v1/etappmal/{id}`), never by the raw path, so the
number of series stays bounded whatever clients ask for.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class HttpMetrics:
    """`stadspuls_http_requests_total` and `stadspuls_http_request_duration_seconds` of one service."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self.requests = Counter(
            "stadspuls_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["service", "route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "stadspuls_http_request_duration_seconds",
            "Seconds from receiving a request to sending the last byte of its answer.",
            ["service", "route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(self.service, route, method, str(status)).inc()
        self.duration.labels(self.service, route, method).observe(seconds)


def route_template(scope: Scope) -> str:
    """The route template of a request: a replayed answer's, the matched route's, or `unmatched`."""
    replayed = scope.get("route_template")
    if isinstance(replayed, str):
        return replayed
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    # A request refused before routing (a middleware's 413, say) still belongs to its route.
    for candidate in getattr(getattr(scope.get("app"), "router", None), "routes", ()):
        match, _ = candidate.matches(scope)
        template = getattr(candidate, "path", None)  # an included router has none
        if match is Match.FULL and isinstance(template, str):
            return template
    return UNMATCHED


class HttpMetricsMiddleware:
    """Pure ASGI middleware: times every HTTP request and counts it by route template."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(route_template(scope), scope["method"], status, elapsed)
