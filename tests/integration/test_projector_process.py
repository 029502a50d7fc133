"""The projector process's work beside the writer's, on real SQLite and PostgreSQL: what batches
changed, handed over, ends where projecting after every batch ends; while a projection computes,
another transaction writes the rows it will write and commits without waiting; a failed projection
keeps what it was handed."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text

from services.aggregate.projecting import ProjectionWork
from services.aggregate.writer import Applied, _apply
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.db.schema import read_model_state, series
from shared.domain.catalog import Catalog
from shared.readmodel.store import SeriesStore, bump_state
from tests.integration.test_projection_throttle import current, reference
from tests.streams import StreamMaker


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _revision(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(read_model_state.c.revision)).scalar_one())


def test_what_batches_changed_handed_over_is_projected_as_a_full_refresh_computes(
    db_url: str, engine: Engine, catalog: Catalog
) -> None:
    events = [e.to_json() for e in StreamMaker(catalog, seed=11).stream(1_500)]
    store, work = SeriesStore(engine, catalog), ProjectionWork(db_url, catalog, interval=0.0)
    lags = []
    for start in range(0, len(events), 300):
        applied = _apply(store, events[start : start + 300], {("t", 0): start + 300})
        assert applied.changed, "the writer says what the batch changed"
        assert applied.documents == []  # the writer projects nothing itself
        answer = work.project(applied.changed, applied.committed_at)
        lags.append(answer.status_lag)
        assert {d for d, _ in answer.documents} >= {
            f"indikator:{i}" for i, _, g in applied.changed if g == "T"
        }
    assert all(lag is not None and lag >= 0 for lag in lags)
    assert not work.projector.pending
    assert work.projector.pending_areas, "other areas' statuses wait for their interval"
    _flush_all(work)
    assert current(engine) == reference(engine, catalog)


def _flush_all(work: ProjectionWork) -> None:
    """Flush as an idle worker does: until nothing is left (other areas a batch at a time)."""
    for _ in range(100):
        if not work.flush().more:
            return
    raise AssertionError("a hundred flushes left work pending")


def test_a_projection_holds_no_write_lock_while_it_computes(
    db_url: str, engine: Engine, catalog: Catalog
) -> None:
    """On SQLite its reads run in a snapshot and its writes after; on PostgreSQL its writes run at
    its end: another writer bumping the state row meanwhile commits at once, and nothing is lost."""
    events = [e.to_json() for e in StreamMaker(catalog, seed=12).stream(600)]
    store, work = SeriesStore(engine, catalog), ProjectionWork(db_url, catalog, interval=0.0)
    applied = _apply(store, events, {("t", 0): 600})
    refresh = work.projector.refresh
    bumped: list[int] = []

    def computing(conn: Connection, indicators: Any, now: Any) -> Any:
        documents = refresh(conn, indicators, now)  # computed; on a real connection, written
        bumped.append(_bump_without_waiting(engine))
        return documents

    work.projector.refresh = computing  # type: ignore[method-assign]
    before = _revision(engine)
    answer = work.project(applied.changed, applied.committed_at)
    assert bumped, "the projection ran"
    assert answer.documents
    # the other writer's bump and the projection's own (city, then other areas) all counted
    assert _revision(engine) >= before + 2
    assert bumped[0] == before + 1  # it committed before the projection wrote anything
    _flush_all(work)
    assert current(engine) == reference(engine, catalog)


def _bump_without_waiting(engine: Engine) -> int:
    """Advance the state row in a transaction of its own that may not wait for a lock; return
    the revision it committed."""
    if engine.dialect.name == "sqlite":
        conn = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # raises 'database is locked' if the lock is held
            conn.execute("UPDATE read_model_state SET revision = revision + 1")
            conn.execute("COMMIT")
            return int(conn.execute("SELECT revision FROM read_model_state").fetchone()[0])
        finally:
            conn.close()
    other = make_engine(engine.url)
    try:
        with other.begin() as pg:
            pg.execute(text("SET LOCAL lock_timeout = '100ms'"))  # raises if the row is locked
            bump_state(pg)
            return int(pg.execute(select(read_model_state.c.revision)).scalar_one())
    finally:
        other.dispose()


def _applied_on_sqlite(url: str, catalog: Catalog, seed: int, n: int) -> tuple[Engine, Applied]:
    """A fresh SQLite read model with one batch of `n` events applied by the writer."""
    upgrade(url)
    engine = make_engine(url)
    events = [e.to_json() for e in StreamMaker(catalog, seed=seed).stream(n)]
    return engine, _apply(SeriesStore(engine, catalog), events, {("t", 0): n})


def test_a_failed_projection_keeps_what_it_was_handed_and_the_next_one_projects_it(
    sqlite_url: str, catalog: Catalog
) -> None:
    engine, applied = _applied_on_sqlite(sqlite_url, catalog, seed=13, n=400)
    work = ProjectionWork(sqlite_url, catalog, interval=0.0)
    refresh = work.projector.refresh

    def failing(conn: Connection, indicators: Any, now: Any) -> Any:
        raise RuntimeError("the projection's database went away")

    work.projector.refresh = failing  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="went away"):
        work.project(applied.changed, applied.committed_at)
    assert work.projector.pending == {i for i, _, g in applied.changed if g == "T"}
    with engine.connect() as conn:
        assert conn.execute(select(series)).first() is not None  # the batch's rows stand
    assert current(engine) != reference(engine, catalog)

    work.projector.refresh = refresh  # type: ignore[method-assign]
    flushed = work.flush()
    assert flushed.status_lag is not None
    assert flushed.status_lag > 0  # it waited for this one
    assert not work.projector.pending
    _flush_all(work)
    assert current(engine) == reference(engine, catalog)
    engine.dispose()


def test_projectors_of_two_workers_on_one_sqlite_file_take_turns(
    sqlite_url: str, catalog: Catalog
) -> None:
    """The second reads only once the first has written: it waits for the file lock."""
    engine, applied = _applied_on_sqlite(sqlite_url, catalog, seed=14, n=300)
    first = ProjectionWork(sqlite_url, catalog, interval=0.0)
    second = ProjectionWork(sqlite_url, catalog, interval=0.0)
    done = threading.Event()

    def project() -> None:
        second.project(applied.changed, applied.committed_at)
        done.set()

    with first._turns:  # the first worker's projection is under way
        thread = threading.Thread(target=project)
        thread.start()
        assert not done.wait(0.5), "the second projected while the first held its turn"
    assert done.wait(30), "the second never got its turn"
    thread.join()
    _flush_all(second)
    assert current(engine) == reference(engine, catalog)
    engine.dispose()
