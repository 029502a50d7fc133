"""The read API's Prometheus metrics, declared once per app."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from shared.http_metrics import HttpMetrics

SERVICE = "api"


@dataclass
class ApiMetrics:
    """Request counter and latency histogram of one API app (`http`), in its own registry."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        self.http = HttpMetrics(self.registry, SERVICE)
