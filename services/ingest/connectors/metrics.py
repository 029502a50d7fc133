"""A connector service's Prometheus metrics, declared once, beside ingest's in one registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ConnectorMetrics:
    """Runs, rows and errors of the connectors of one process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = r = registry
        self.runs = Counter(
            "stadspuls_connector_runs_total",
            "Connector runs by outcome: succeeded, partial (some rows rejected), failed, dry_run.",
            ["connector", "outcome"],
            registry=r,
        )
        self.fetched = Counter(
            "stadspuls_connector_rows_fetched_total",
            "Values read from the source (every gender of every item).",
            ["connector"],
            registry=r,
        )
        self.accepted = Counter(
            "stadspuls_connector_rows_accepted_total",
            "Rows validated and acknowledged by Kafka.",
            ["connector"],
            registry=r,
        )
        self.rejected = Counter(
            "stadspuls_connector_rows_rejected_total",
            "Rows rejected by validation or refused by the connector (e.g. a group value).",
            ["connector"],
            registry=r,
        )
        self.skipped = Counter(
            "stadspuls_connector_rows_skipped_total",
            "Source values that are no observation: null values, genders not mapped.",
            ["connector"],
            registry=r,
        )
        self.errors = Counter(
            "stadspuls_connector_errors_total",
            "Failed runs by kind: rate_limited, server_error, client_error, unreachable,"
            " malformed_body, kafka_unavailable, database_unavailable.",
            ["connector", "kind"],
            registry=r,
        )
        self.last_success = Gauge(
            "stadspuls_connector_last_success_timestamp_seconds",
            "When the connector's last successful run ended (Unix time; 0: never).",
            ["connector"],
            registry=r,
        )
        self.schedule = Gauge(
            "stadspuls_connector_schedule_seconds",
            "Time between the connector's runs, from its catalog entry.",
            ["connector"],
            registry=r,
        )
