"""The read API's Prometheus metrics, declared once per app, and the middleware that feeds them.

Requests are labelled by route template (`/v1/etappmal/{id}`), never by the raw path, so the
number of series stays bounded whatever clients ask for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SERVICE = "api"
UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass
class ApiMetrics:
    """Request counter and latency histogram of one API app."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        self.requests = Counter(
            "stadspuls_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["service", "route", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "stadspuls_http_request_duration_seconds",
            "Seconds from receiving a request to sending the last byte of its answer.",
            ["service", "route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(SERVICE, route, method, str(status)).inc()
        self.duration.labels(SERVICE, route, method).observe(seconds)


def route_template(scope: Scope) -> str:
    """The matched route's path template (also of a replayed answer), or `unmatched`."""
    replayed = scope.get("route_template")
    if isinstance(replayed, str):
        return replayed
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class MetricsMiddleware:
    """Pure ASGI middleware: times every HTTP request and counts it by route template."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
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
            self.metrics.observe(
                route_template(scope), scope["method"], status, time.perf_counter() - started
            )
