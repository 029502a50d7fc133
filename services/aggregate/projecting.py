"""The projector process's work: what batches changed, projected beside the writer, not after it.

The writer process applies batches and only says what each changed (`Applied.changed`); the
worker hands that to the projector process, a second `Writer` process with the `project` role,
which keeps what is pending (`shared.readmodel.projections.Projector`, throttled as before) and
projects it while the writer goes on with the next batch. A projection reads in a snapshot and
writes at its end (`shared.readmodel.deferred`), so on SQLite it holds the one write lock only for
its writes, and a batch no longer waits for a projection to compute. Before, one process did both,
and the batches that arrived while it projected waited for it: they were the freshness p99.

What is pending lives in this process: marks handed over and not yet projected survive a failed
projection (it raises after `mark_changed`). If the process dies they are lost, so the new one
is told to project everything (`Writer._restart`), as after a partition assignment.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from services.aggregate.writer import Applied, StatusLag
from shared.db.engine import make_engine
from shared.domain.catalog import Catalog
from shared.domain.observation import utcnow
from shared.readmodel.area_status import Triple
from shared.readmodel.deferred import project_with
from shared.readmodel.projections import AREA_BATCH, AREA_INTERVAL, AREA_REFRESH, Projector


class ProjectionWork:
    """The projector process's state and requests (`mark_all`, `project`, `flush`, `refresh`)."""

    def __init__(self, database_url: str, catalog: Catalog, interval: float) -> None:
        self.catalog = catalog
        self.engine = make_engine(database_url)
        sqlite = make_url(database_url).get_backend_name() == "sqlite"
        self.reader = make_engine(database_url, read_only=True) if sqlite else None
        self.projector = Projector(catalog, interval=interval, area_interval=AREA_INTERVAL)
        self.projector.area_batch = AREA_BATCH
        self.lag = StatusLag()
        self.areas_refreshed = -float("inf")  # monotonic time of the last refresh of every area

    def _run(self, work: Any) -> Any:
        return project_with(self.engine, self.reader, work)

    def project(self, changed: Iterable[Triple], committed_at: datetime | None) -> Applied:
        """Take what batches changed (the oldest committed at `committed_at`) and project what is
        due; the documents and the status lag it ended."""
        self.projector.mark_changed(changed)
        if self.projector.pending and self.lag.since is None:
            self.lag.since = committed_at  # they wait from their commit, if this one fails too
        projected, documents = self._run(self.projector.project_due)
        self.projector.done(projected)
        city = any(isinstance(p, str) for p in projected)
        batch = Applied(committed_at=committed_at, projected_at=utcnow() if city else None)
        return Applied(
            documents=documents,
            status_lag=self.lag.after_batch(batch, self.projector.pending),
            more=self.projector.idle_work,
        )

    def flush(self) -> Applied:
        """Project everything pending now (the stream is idle)."""
        projected, documents = self._run(self.projector.flush)
        self.projector.done(projected)
        return Applied(
            documents=documents,
            status_lag=self.lag.projected(utcnow()),
            more=self.projector.idle_work,  # the next idle flush goes on with the rest
        )

    def refresh(self) -> list[tuple[str, dict[str, Any]]]:
        """Recompute every city summary (staleness moves with time); now and then mark every
        other area's status due again, projected a batch of them at a time."""

        def work(conn: Connection) -> list[tuple[str, dict[str, Any]]]:
            return self.projector.refresh(conn, self.catalog.indicator, utcnow())

        documents: list[tuple[str, dict[str, Any]]] = self._run(work)
        if time.monotonic() - self.areas_refreshed >= AREA_REFRESH:
            self.areas_refreshed = time.monotonic()
            with (self.reader or self.engine).connect() as conn:
                self.projector.mark_areas(conn)
        return documents

    def mark_all(self) -> None:
        """Project every indicator and area at the next opportunity."""
        self.projector.mark_all()
