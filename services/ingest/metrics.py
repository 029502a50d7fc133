"""The ingest service's Prometheus metrics, declared once, in a registry per app instance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.domain.validation import ErrorCode
from shared.http_metrics import HttpMetrics

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
        self.received = Counter(
            "stadspuls_ingest_observations_received_total",
            "Observation rows received (dry runs excluded).",
            ["source"],
            registry=r,
        )
        self.accepted = Counter(
            "stadspuls_ingest_observations_accepted_total",
            "Rows validated and acknowledged by Kafka.",
            ["source"],
            registry=r,
        )
        self.rejected = Counter(
            "stadspuls_ingest_observations_rejected_total",
            "Rows rejected, by the code of their first error.",
            ["source", "reason"],
            registry=r,
        )
        self.publish_seconds = Histogram(
            "stadspuls_ingest_publish_seconds",
            "Seconds from handing a batch to Kafka to its last acknowledgement.",
            buckets=PUBLISH_BUCKETS,
            registry=r,
        )
        self.batches = Counter(
            "stadspuls_ingest_batches_total",
            "Batches by outcome: accepted, partial, rejected, dry_run, replayed,"
            " unavailable, unknown, database_unavailable, invalid.",
            ["source", "outcome"],
            registry=r,
        )
        self.throttled = Counter(
            "stadspuls_ingest_throttled_total",
            "Batches refused for a source's budget: requests_per_minute or rows_per_minute.",
            ["source", "limit"],
            registry=r,
        )
        self.raw_messages = Counter(
            "stadspuls_ingest_raw_messages_total",
            "Raw-topic messages by outcome: forwarded or dlq.",
            ["outcome"],
            registry=r,
        )
        self.idempotency_failures = Counter(
            "stadspuls_ingest_idempotency_store_failures_total",
            "Idempotency-store writes the database refused: claim, complete, release, purge.",
            ["operation"],
            registry=r,
        )
        self.idempotency_deferred = Gauge(
            "stadspuls_ingest_idempotency_deferred_writes",
            "Idempotency answers and releases kept until the database takes them.",
            registry=r,
        )
        self.http = HttpMetrics(r, SERVICE)

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
