"""The read API's Prometheus metrics, declared once per app."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram

from shared.http_metrics import HttpMetrics

SERVICE = "api"


@dataclass
class ApiMetrics:
    """Request counter and latency histogram of one API app (`http`), and the time each past
    moment's read model took to build (`past_build`), in its own registry."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        self.http = HttpMetrics(self.registry, SERVICE)
        self.past_build = Histogram(
            "stadspuls_api_past_build_seconds",
            "Time to build the read model of a past moment (as_of, rapport=), once per moment",
            registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
