"""One run of a connector: cursor → pull → the ingest path (judge, publish) → cursor, in that order.

The rows go through `IngestService.ingest_rows`, the seam of `POST /v1/observations`, so they are
judged by the same rules, published by the same publisher and reported the same way. A pull that
fails publishes nothing; the cursor is stored only after Kafka acknowledged the run's rows, so a
failed run is repeated whole next time (its derived ids make the repeat harmless).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from services.ingest.connectors.base import Connector, ConnectorError, Pulled
from services.ingest.connectors.cursors import CursorStore
from services.ingest.connectors.metrics import ConnectorMetrics
from services.ingest.outcomes import Judged
from services.ingest.parsing import Rows
from services.ingest.service import IngestService
from shared.domain.observation import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunReport:
    """What a run did: `outcome`, the per-row report (as the HTTP answer's), or the error."""

    outcome: str  # succeeded | partial | failed | dry_run
    report: dict[str, Any] | None = None
    error: ConnectorError | None = None

    @property
    def ok(self) -> bool:
        """Whether the run finished (rows may still have been rejected)."""
        return self.outcome != "failed"


class Runner:
    """Runs one connector through the ingest path."""

    def __init__(
        self,
        connector: Connector,
        service: IngestService,
        cursors: CursorStore,
        metrics: ConnectorMetrics,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.connector, self.service, self.cursors = connector, service, cursors
        self.metrics, self.clock = metrics, clock
        self.name = connector.source

    async def run(self, *, since: date | None = None, dry_run: bool = False) -> RunReport:
        """Pull once and publish (unless `dry_run`); the report says what became of every row."""
        try:
            stored = await self.cursors.load(self.name)
            pulled = await self.connector.pull(stored.cursor if stored else None, since)
        except ConnectorError as exc:
            return self._failed(exc)
        except SQLAlchemyError as exc:
            return self._failed(ConnectorError("database_unavailable", "database", str(exc)))
        outcome = await self.service.ingest_rows(
            self.name, Rows(list(pulled.rows)), dry_run=dry_run
        )
        if not isinstance(outcome, Judged):
            what = type(outcome).__name__
            return self._failed(
                ConnectorError("kafka_unavailable", "kafka", f"not published: {what}")
            )
        report = merged(outcome.report.as_dict(), pulled)
        self._count(pulled, report)
        if dry_run:
            self.metrics.runs.labels(self.name, "dry_run").inc()
            return RunReport("dry_run", report)
        now = self.clock()
        try:
            await self.cursors.save(self.name, pulled.cursor, now)
        except SQLAlchemyError as exc:  # published but not remembered: the next run repeats it
            return self._failed(
                ConnectorError("database_unavailable", "database", str(exc)), report
            )
        self.metrics.last_success.labels(self.name).set(now.timestamp())
        result = "partial" if report["rejected"] else "succeeded"
        self.metrics.runs.labels(self.name, result).inc()
        return RunReport(result, report)

    def _failed(self, error: ConnectorError, report: dict[str, Any] | None = None) -> RunReport:
        log.warning("connector %s failed (%s): %s", self.name, error.kind, error)
        self.metrics.runs.labels(self.name, "failed").inc()
        self.metrics.errors.labels(self.name, error.kind).inc()
        return RunReport("failed", report, error)

    def _count(self, pulled: Pulled, report: dict[str, Any]) -> None:
        self.metrics.fetched.labels(self.name).inc(pulled.fetched)
        self.metrics.skipped.labels(self.name).inc(pulled.skipped)
        if not report["dry_run"]:
            self.metrics.accepted.labels(self.name).inc(report["accepted"])
            self.metrics.rejected.labels(self.name).inc(report["rejected"])


def merged(report: dict[str, Any], pulled: Pulled) -> dict[str, Any]:
    """The ingest report with the connector's refusals as rejected rows, and what was read."""
    errors = list(report["errors"])
    for error in errors:
        row = error["row"]
        if 0 < row <= len(pulled.origins):
            error["where"] = pulled.origins[row - 1]
    first = report["received"] + 1
    for n, refusal in enumerate(pulled.refused, start=first):
        errors.append(
            {
                "row": n,
                "field": None,
                "code": refusal.code,
                "message": refusal.message,
                "where": refusal.where,
            }
        )
    refused = len(pulled.refused)
    return report | {
        "received": report["received"] + refused,
        "rejected": report["rejected"] + refused,
        "errors": errors,
        "fetched": pulled.fetched,
        "skipped": pulled.skipped,
        "cursor": pulled.cursor,
    }
