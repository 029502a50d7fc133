"""A projection's reads at once, its writes afterwards: so that it holds the write lock only briefly.

A projection reads committed rows, computes, and writes what it computed (`projections.py`); its
writes never read back what it wrote before them. `DeferredWrites` stands in for the connection
while it computes: a read runs at once, an INSERT, UPDATE or DELETE is kept, in order, until
`apply` runs them on a connection of the caller's choice. On SQLite the reads then run in a
read-only snapshot and only the writes take the one write lock (in a short transaction after it),
so a projection no longer holds the writer's batches back for as long as it computes; on
PostgreSQL both run in one transaction, and the rows it writes are locked only at its end.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.sql.dml import UpdateBase

T = TypeVar("T")


class DeferredWrites:
    """The part of a `Connection` a projection uses, with its writes kept for `apply`."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.writes: list[tuple[UpdateBase, Any]] = []

    @property
    def dialect(self) -> Any:
        """The dialect of the connection the reads run on."""
        return self._conn.dialect

    def execute(self, statement: Any, parameters: Any = None) -> Any:
        """Run a read now; keep a write (its result is None: no projection reads one)."""
        if isinstance(statement, UpdateBase):
            self.writes.append((statement, parameters))
            return None
        return self._conn.execute(statement, parameters)

    def apply(self, conn: Connection) -> None:
        """Run the kept writes, in the order they were made, on `conn`."""
        for statement, parameters in self.writes:
            conn.execute(statement, parameters)


def project_with(
    engine: Engine,
    reader: Engine | None,
    work: Callable[[Connection], T],
    computing: Executor | None = None,
) -> T:
    """Run a projection `work`: its reads in a snapshot of `reader` (SQLite's read-only engine)
    and its writes in a transaction of `engine` after it; with no `reader`, both in one
    transaction of `engine`, the writes at its end. With `computing`, the reads and what is
    computed from them run on its thread, the writes on the caller's."""

    def compute(conn: Connection) -> tuple[T, DeferredWrites]:
        deferred = DeferredWrites(conn)
        return work(cast(Connection, deferred)), deferred

    def on_thread(conn: Connection) -> tuple[T, DeferredWrites]:
        return compute(conn) if computing is None else computing.submit(compute, conn).result()

    if reader is None:
        with engine.begin() as conn:
            answer, deferred = on_thread(conn)
            deferred.apply(conn)
        return answer
    with reader.begin() as conn:
        answer, deferred = on_thread(conn)
    if deferred.writes:
        with engine.begin() as conn:
            deferred.apply(conn)
    return answer
