"""The ingest service's Prometheus metrics, declared once, in a registry per app instance."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.domain.validation import ErrorCode

SERVICE = "ingest"
PUBLISH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class IngestMetrics:
    """Counters and histograms of one ingest service (HTTP and raw-topic paths)."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.received = Counter("stadspuls_ingest_observations_received_total",
                                "Observation rows received (dry runs excluded).", ["source"], registry=r)  # fmt: skip
        self.accepted = Counter("stadspuls_ingest_observations_accepted_total",
                                "Rows validated and acknowledged by Kafka.", ["source"], registry=r)  # fmt: skip
        self.rejected = Counter("stadspuls_ingest_observations_rejected_total",
                                "Rows rejected, by the code of their first error.", ["source", "reason"],
                                registry=r)  # fmt: skip
        self.publish_seconds = Histogram("stadspuls_ingest_publish_seconds",
                                         "Seconds from handing a batch to Kafka to its last acknowledgement.",
                                         buckets=PUBLISH_BUCKETS, registry=r)  # fmt: skip
        self.batches = Counter("stadspuls_ingest_batches_total",
                               "Batches by outcome: accepted, partial, rejected, dry_run, replayed,"
                               " unavailable, invalid.", ["source", "outcome"], registry=r)  # fmt: skip
        self.raw_messages = Counter("stadspuls_ingest_raw_messages_total",
                                    "Raw-topic messages by outcome: forwarded or dlq.", ["outcome"],
                                    registry=r)  # fmt: skip
        self.http_requests = Counter("stadspuls_http_requests_total", "HTTP requests.",
                                     ["service", "route", "method", "status"], registry=r)  # fmt: skip
        self.http_seconds = Histogram("stadspuls_http_request_duration_seconds",
                                      "HTTP request duration.", ["service", "route", "method"], registry=r)  # fmt: skip

    def count_rows(
        self, source: str, received: int, accepted: int, reasons: Mapping[int, ErrorCode]
    ) -> None:
        """Record one batch's rows."""
        self.received.labels(source).inc(received)
        if accepted:
            self.accepted.labels(source).inc(accepted)
        tally: dict[str, int] = {}
        for code in reasons.values():
            tally[code.value] = tally.get(code.value, 0) + 1
        for reason, n in tally.items():
            self.rejected.labels(source, reason).inc(n)


class HttpMetricsMiddleware:
    """Counts requests and their duration by route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: IngestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route, method = _route_of(scope), scope["method"]
            self.metrics.http_requests.labels(SERVICE, route, method, str(status)).inc()
            self.metrics.http_seconds.labels(SERVICE, route, method).observe(
                time.perf_counter() - start
            )


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return str(candidate.path)
    return "unmatched"
