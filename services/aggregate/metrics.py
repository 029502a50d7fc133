"""The aggregator's Prometheus metrics, declared once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.aggregate.catalog_start import CatalogStart
from shared.catalog.diff import Effect
from shared.domain.catalog import Catalog
from shared.domain.status import StatusCode

# Fine where the objectives are (freshness p99 < 0.3 s, a status < 1 s behind its series): a
# quantile is interpolated within its bucket, so 0.25–0.5 alone would read a p99 of 0.27 s as
# anything up to 0.5 s, and no alert could say whether 0.3 s was kept.
FRESHNESS_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30,
    60, 300,
)  # fmt: skip


@dataclass
class AggregateMetrics:
    """Counters, histograms and gauges of one aggregator worker."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.events = Counter(
            "stadspuls_aggregate_events_total",
            "Observations consumed by outcome: applied, duplicate, superseded or invalid.",
            ["outcome"],
            registry=r,
        )
        self.freshness = Histogram(
            "stadspuls_aggregate_freshness_seconds",
            "Seconds from an observation's received_at to its read-model commit.",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.status_lag = Histogram(
            "stadspuls_aggregate_status_lag_seconds",
            "Seconds from the commit of the oldest series change not yet projected to the commit "
            "of the projection that covered it, per projection.",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "stadspuls_aggregate_batch_seconds",
            "Seconds to apply one batch to the read model.",
            registry=r,
        )
        self.lag = Gauge(
            "stadspuls_aggregate_consumer_lag",
            "Messages not yet committed by the aggregator's consumer group, per partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.newest_period_age = Gauge(
            "stadspuls_indicator_newest_period_age_seconds",
            "Seconds since the end of an indicator's newest period with a city-level value.",
            ["indicator", "namnd"],
            registry=r,
        )
        self.stale = Gauge(
            "stadspuls_indicator_stale",
            "1 when an indicator's newest period is older than cadence + publication lag + grace.",
            ["indicator", "namnd"],
            registry=r,
        )
        self.etappmal_status = Gauge(
            "stadspuls_etappmal_status",
            "1 for an etappmål's current status, 0 for the others.",
            ["etappmal", "status"],
            registry=r,
        )
        self.batch_failures = Counter(
            "stadspuls_aggregate_batch_failures_total",
            "Failed attempts to apply a batch to the read model (it is retried until it applies).",
            ["reason"],
            registry=r,
        )
        self.batch_failing = Gauge(
            "stadspuls_aggregate_batch_failing",
            "1 while the current batch cannot be applied and is being retried, else 0.",
            registry=r,
        )
        self.batches_pending = Gauge(
            "stadspuls_aggregate_batches_pending",
            "Batches taken from Kafka and handed to the writer, not yet applied (0 or 1).",
            registry=r,
        )
        self.writer_restarts = Counter(
            "stadspuls_aggregate_writer_restarts_total",
            "Times the writer process died and was started again.",
            registry=r,
        )
        self.projector_restarts = Counter(
            "stadspuls_aggregate_projector_restarts_total",
            "Times the projector process died and was started again (it then projects everything).",
            registry=r,
        )
        self.projection_seconds = Histogram(
            "stadspuls_aggregate_projection_seconds",
            "Seconds each request to the projector process took (what batches changed, handed "
            "over and projected when due; idle flushes; refreshes).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=r,
        )
        self.ready = Gauge(
            "stadspuls_aggregate_ready",
            "1 when the worker is ready (owns partitions, caught up, writes succeeding), else 0.",
            registry=r,
        )
        self.applied_offset = Gauge(
            "stadspuls_aggregate_applied_offset",
            "Per partition, the offset after the newest event the read model reflects.",
            ["topic", "partition"],
            registry=r,
        )
        self.committed_offset = Gauge(
            "stadspuls_aggregate_committed_offset",
            "Per partition, the consumer group's committed offset (never above the applied one).",
            ["topic", "partition"],
            registry=r,
        )
        self.reused_ids = Counter(
            "stadspuls_aggregate_reused_ids_total",
            "Versions whose observation_id their series had received before with other numbers:"
            " recorded as duplicates and not shown (a source's mistake; see the log).",
            ["source"],
            registry=r,
        )
        self.dlq = Counter(
            "stadspuls_aggregate_dlq_total",
            "Messages the aggregator could not use and sent to the dead-letter topic.",
            ["reason"],
            registry=r,
        )
        self.catalog_changes = Gauge(
            "stadspuls_aggregate_catalog_changes",
            "Changes of the catalog this worker started with, by what they need (rebuild, "
            "rollups, reproject, none); 0 when it was in force already.",
            ["effect"],
            registry=r,
        )
        self.catalog_reprojected = Gauge(
            "stadspuls_aggregate_catalog_reprojected",
            "What this worker's start re-projected for a changed catalog: periods, series_rows, "
            "dropped (winners no longer placed) and indicators (summaries).",
            ["what"],
            registry=r,
        )

    def catalog_taken(self, start: CatalogStart) -> None:
        """Set the catalog gauges from what the catalog taking effect did."""
        for effect in Effect:
            self.catalog_changes.labels(effect.value).set(
                sum(1 for c in start.changes if c.effect is effect)
            )
        done = start.reprojected
        for what, value in (
            ("periods", len(done.periods) if done else 0),
            ("series_rows", done.rows if done else 0),
            ("dropped", done.dropped if done else 0),
            ("indicators", start.summaries),
        ):
            self.catalog_reprojected.labels(what).set(value)


def update_gauges(
    catalog: Catalog, metrics: AggregateMetrics, documents: Sequence[dict[str, Any]]
) -> None:
    """Set the staleness, age and status gauges from freshly computed summaries."""
    for doc in documents:
        if "indicator" in doc and "inputs" in doc:
            lead = catalog.lead_of(doc["indicator"]) or ""
            metrics.stale.labels(doc["indicator"], lead).set(1 if doc["stale"] else 0)
            if doc["newest_period_age_seconds"] is not None:
                metrics.newest_period_age.labels(doc["indicator"], lead).set(
                    doc["newest_period_age_seconds"]
                )
        elif "headline" in doc:
            for code in StatusCode:
                metrics.etappmal_status.labels(doc["id"], code.value).set(
                    1 if doc["status"] == code.value else 0
                )
