"""Planner statistics on real PostgreSQL: the projector gathers them for a table that filled since
its last ones (autovacuum, disabled on the tables here, would come a minute later), not again
while they hold, and again once the table has more than doubled; the query they matter most to is
then planned from them. SQLite is left alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, inspect, text

from services.aggregate.projecting import ProjectionWork
from services.aggregate.writer import _apply
from shared.catalog.loader import default_catalog
from shared.db import statistics
from shared.db.engine import make_engine, upgrade
from shared.db.statistics import Statistics, stale_tables
from shared.domain.catalog import Catalog
from shared.infra.wait import wait_for
from shared.readmodel.projections import Projector
from shared.readmodel.store import SeriesStore
from tests.streams import StreamMaker


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    upgrade(pg_url)
    engine = make_engine(pg_url)
    with engine.begin() as conn:  # only the code under test may gather statistics here
        for table in statistics.TABLES:
            conn.execute(text(f"ALTER TABLE {table.name} SET (autovacuum_enabled = false)"))
    yield engine
    engine.dispose()


def _analyzed(engine: Engine) -> set[str]:
    """Tables that have planner statistics."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = current_schema()")
        )
        return {r.tablename for r in rows}


def _stale(engine: Engine, name: str) -> bool:
    with engine.connect() as conn:
        return name in stale_tables(conn)


def test_the_projector_gathers_statistics_of_a_table_filled_since_it_had_any(
    pg_url: str, engine: Engine, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statistics, "MIN_ROWS", 200)
    monkeypatch.setattr(statistics, "QUIET_SECONDS", 0.0)  # the doubling comes at once here
    maker, store = StreamMaker(catalog, seed=41), SeriesStore(engine, catalog)
    applied = _apply(store, [e.to_json() for e in maker.stream(800)], {("t", 0): 800})
    assert "series" not in _analyzed(engine)
    # the counts reach the statistics views within a second or so of the commit
    wait_for(lambda: _stale(engine, "series"), timeout=20, interval=0.1, what="series counted")

    work = ProjectionWork(pg_url, catalog, interval=0.0)
    work.project(applied.changed, applied.committed_at)
    assert "series" in work.statistics.analyzed
    assert {"series", "series_versions"} <= _analyzed(engine)

    work.statistics.every = 0.0  # look every time from here on
    assert work.statistics.keep() == [], "statistics of the whole table hold"
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM series")).scalar_one()
    more = maker.stream(4_000)
    _apply(store, [e.to_json() for e in more], {("t", 0): 4_800})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM series")).scalar_one() > 2 * rows
    wait_for(lambda: _stale(engine, "series"), timeout=20, interval=0.1, what="growth counted")
    assert "series" in work.statistics.keep()
    assert not _stale(engine, "series")


def test_a_table_another_analyze_holds_is_left_for_later(
    engine: Engine, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers' projectors, or autovacuum: the one that waits gives up after its lock
    timeout, raises nothing, and analyzes the table once it is free."""
    monkeypatch.setattr(statistics, "MIN_ROWS", 200)
    store = SeriesStore(engine, catalog)
    _apply(store, [e.to_json() for e in StreamMaker(catalog, seed=44).stream(800)], {})
    wait_for(lambda: _stale(engine, "series"), timeout=20, interval=0.1, what="series counted")
    kept = Statistics(engine, every=0.0)
    with engine.connect() as other:
        other.exec_driver_sql("LOCK TABLE series IN SHARE UPDATE EXCLUSIVE MODE")
        assert kept.keep() == []
        assert "series" not in _analyzed(engine)
        other.rollback()
    assert "series" in kept.keep()
    assert "series" in _analyzed(engine)


def test_a_role_that_does_not_own_the_tables_leaves_them_alone(
    pg_url: str, engine: Engine, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL skips, with a warning, a table the role may not analyze: not tried at all."""
    monkeypatch.setattr(statistics, "MIN_ROWS", 200)
    _apply(
        SeriesStore(engine, catalog), [e.to_json() for e in StreamMaker(catalog).stream(800)], {}
    )
    wait_for(lambda: _stale(engine, "series"), timeout=20, interval=0.1, what="series counted")
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role}")
        conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    other = make_engine(pg_url, connect_args={"options": f"-c role={role}"})
    try:
        assert Statistics(other, every=0.0).keep() == []
        assert "series" not in _analyzed(engine)
    finally:
        other.dispose()
        with engine.begin() as conn:  # roles are the cluster's, not the database's
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
    assert "series" in Statistics(engine, every=0.0).keep()


def test_statistics_change_the_plan_of_the_namnd_areas_values(
    engine: Engine, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without them the planner expects one row of thousands and loops over the city's rows for
    each (the 370 ms query of the module `shared.db.statistics`); with them it hashes."""
    monkeypatch.setattr(statistics, "MIN_ROWS", 200)
    store = SeriesStore(engine, catalog)
    _apply(store, [e.to_json() for e in StreamMaker(catalog, seed=42).stream(3_000)], {})
    query = Projector(catalog).area_values_query()
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))

    def plan() -> str:
        with engine.connect() as conn:
            return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}").all())

    assert "Nested Loop" in plan()
    wait_for(lambda: _stale(engine, "series"), timeout=20, interval=0.1, what="series counted")
    assert "series" in Statistics(engine).keep()
    assert "Nested Loop" not in plan()


def test_sqlite_is_left_without_statistics(sqlite_url: str, catalog: Catalog) -> None:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        store = SeriesStore(engine, catalog)
        _apply(store, [e.to_json() for e in StreamMaker(catalog, seed=43).stream(300)], {})
        kept = Statistics(engine, every=0.0)
        assert kept.keep() == []
        assert "sqlite_stat1" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_table_analyzed_a_moment_ago_is_left_alone(
    engine: Engine, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch rebuild analyzes in its load's transaction, which leaves every row it loaded
    counted as changed since: the worker started after it does not analyze them all again."""
    monkeypatch.setattr(statistics, "MIN_ROWS", 200)
    store = SeriesStore(engine, catalog)
    _apply(store, [e.to_json() for e in StreamMaker(catalog, seed=45).stream(800)], {})
    with engine.begin() as conn:
        statistics.analyze(conn, ["series"])
    _apply(store, [e.to_json() for e in StreamMaker(catalog, seed=46).stream(2_000)], {})
    wait_for(lambda: _counts(engine)["series"] > 0, timeout=20, interval=0.1, what="counted")
    assert "series" not in Statistics(engine, every=0.0).keep()
    monkeypatch.setattr(statistics, "QUIET_SECONDS", 0.0)
    assert "series" in Statistics(engine, every=0.0).keep()


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT relname, n_mod_since_analyze FROM pg_stat_user_tables"
        ).all()
    return {r.relname: int(r.n_mod_since_analyze) for r in rows}
