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

import fcntl
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from services.aggregate.writer import Applied, StatusLag
from shared.db.engine import make_engine
from shared.db.statistics import Statistics
from shared.domain.catalog import Catalog
from shared.domain.observation import utcnow
from shared.readmodel.area_status import Triple
from shared.readmodel.deferred import project_with
from shared.readmodel.projections import AREA_BATCH, AREA_INTERVAL, AREA_REFRESH, Projector

# A projection computes on a thread of lower CPU priority than the worker and its writer: where
# they share too few cores, a batch is not held back by a projection's computing (freshness), and
# a status waits a little longer for its series instead. Its writes run on the process's main
# thread at the normal priority: a thread that holds SQLite's write lock must not be the one the
# scheduler leaves waiting, or the writer waits behind it.
COMPUTE_NICENESS = 5


def _lower_priority() -> None:
    """Lower the calling thread's priority (on Linux the nice value is the thread's own)."""
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), COMPUTE_NICENESS)


class ProjectionWork:
    """The projector process's state and requests (`mark_all`, `project`, `flush`, `refresh`)."""

    def __init__(self, database_url: str, catalog: Catalog, interval: float) -> None:
        self.catalog = catalog
        self.engine = make_engine(database_url)
        url = make_url(database_url)
        sqlite = url.get_backend_name() == "sqlite"
        self.reader = make_engine(database_url, read_only=True) if sqlite else None
        # Projectors of two workers on one SQLite file take turns (PostgreSQL: an advisory lock
        # in the projection's transaction): each reads only after the one before has written.
        self._turns: AbstractContextManager[None] = (
            _FileLock(f"{url.database}.projections.lock") if sqlite else nullcontext()
        )
        self.projector = Projector(catalog, interval=interval, area_interval=AREA_INTERVAL)
        self.projector.area_batch = AREA_BATCH
        self.lag = StatusLag()
        self._computing = ThreadPoolExecutor(1, "projection-compute", _lower_priority)
        self.areas_refreshed = -float("inf")  # monotonic time of the last refresh of every area
        self.statistics = Statistics(self.engine)

    def _run(self, work: Any) -> Any:
        self.statistics.keep()  # the projections' queries are planned from them (PostgreSQL)
        with self._turns:
            return project_with(self.engine, self.reader, work, self._computing)

    def project(self, changed: Iterable[Triple], committed_at: datetime | None) -> Applied:
        """Take what batches changed (the oldest committed at `committed_at`) and project what is
        due; the documents and the status lag it ended."""
        self.projector.mark_changed(changed)
        if self.projector.pending and self.lag.since is None:
            self.lag.since = committed_at  # they wait from their commit, if this one fails too
        # the city's summaries first, in a transaction of their own: a status does not wait
        # for the statuses of other areas
        city, documents = self._run(self.projector.project_city_due)
        self.projector.done(city)
        batch = Applied(committed_at=committed_at, projected_at=utcnow() if city else None)
        lag = self.lag.after_batch(batch, self.projector.pending)
        self.projector.done(self._run(self.projector.project_areas_due))
        return Applied(documents=documents, status_lag=lag, more=self.projector.idle_work)

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


class _FileLock:
    """An exclusive `flock` on a file beside the database, held by one process at a time."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a+b")  # noqa: SIM115 - held for the process's life

    def __enter__(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)
