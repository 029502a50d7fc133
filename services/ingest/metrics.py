"""The ingest service's Prometheus metrics, declared once, in a registry per app instance.

The workers of one replica (`STADSPULS_INGEST_WORKERS` > 1) keep them in files of a folder they
share (prometheus-client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`), and every worker's
`/metrics` gives the replica's sums, whichever answers the scrape.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

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
            multiprocess_mode="livesum",
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


#: The folder of the worker processes' metric files (set for them by `services.ingest.workers`).
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_folder() -> Path | None:
    """The folder the replica's workers keep their metrics in; None for a single process."""
    folder = os.environ.get(MULTIPROCESS)
    return Path(folder) if folder else None


def exposition(registry: CollectorRegistry) -> bytes:
    """The text `/metrics` answers: the registry's, or the sums of every worker of the replica."""
    folder = multiprocess_folder()
    if folder is None:
        return generate_latest(registry)
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=str(folder))  # type: ignore[no-untyped-call]
    return generate_latest(merged)


def forget_dead_workers(folder: Path) -> list[int]:
    """Drop the live gauges of worker processes that are gone (a worker that died and was
    replaced); their counters stay in the sums. The pids forgotten."""
    gone = []
    for path in folder.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]
            gone.append(pid)
        except PermissionError:
            pass  # alive, another user's
    return sorted(set(gone))
