"""The read API's Prometheus metrics, declared once per app."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.http_metrics import HttpMetrics

SERVICE = "api"


@dataclass
class ApiMetrics:
    """Request counter and latency histogram of one API app (`http`), answers rendered rather
    than served from the memo (`renders`), the time each past
    moment's read model took to build (`past_build`) and how many of them were derived from a
    moment kept (`past_derived`), in its own registry."""

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
        self.renders = Counter(
            "stadspuls_api_renders_total",
            "Answers rendered from the read model, by route; the rest of the 200s were the memo's"
            " (rendered before at the same read state, nothing it reads changed since)",
            ["route"],
            registry=self.registry,
        )
        self.past_derived = Counter(
            "stadspuls_api_past_derived",
            "Past moments whose read model was derived from a moment kept (only the groups "
            "whose counted versions differ computed again)",
            registry=self.registry,
        )
