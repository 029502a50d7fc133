"""Throttled projections end where projecting after every batch ends: in a transaction on SQLite and
PostgreSQL, and in a real worker whose last batches are projected once the stream goes idle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select

from bench.aggregate.workload import sweeps
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.db.schema import etappmal_status, indicator_status, namnd_rollup, series
from shared.db.schema import risk_index as risk_index_table
from shared.domain.catalog import AreaLevel, Catalog, Kind, NamndType
from shared.domain.observation import utcnow
from shared.domain.periods import parse_period
from shared.domain.risk import latest_city_inputs, risk_index
from shared.domain.summary import AreaValue
from shared.infra.kafka import KafkaEndpoint
from shared.infra.wait import wait_for
from shared.readmodel.projections import RISK_LEVELS, Projector
from shared.readmodel.revisions import RISK, read_revisions, status_key
from shared.readmodel.store import SeriesStore
from shared.settings import Settings
from shared.topics import ensure_topics
from tests.aggregator import env_of, wait_until_oracle
from tests.services import ServiceProcess, produce
from tests.streams import StreamMaker, periods

PROJECTIONS = (indicator_status, etappmal_status, namnd_rollup, risk_index_table)
MOMENTS = {"computed_at", "data_as_of", "newest_period_age_seconds"}  # move with the clock


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def _timeless(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in MOMENTS}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def projections(conn: Connection) -> dict[str, dict[tuple[Any, ...], Any]]:
    """Every projection row, keyed by table and primary key, without its moments."""
    snapshot = {}
    for table in PROJECTIONS:
        keys = [c.name for c in table.primary_key.columns]
        snapshot[table.name] = {
            tuple(row[k] for k in keys): _timeless(dict(row))
            for row in conn.execute(select(table)).mappings()
        }
    return snapshot


def reference(engine: Engine, catalog: Catalog) -> dict[str, dict[tuple[Any, ...], Any]]:
    """What refreshing every indicator with totals, and every other area's statuses, computes
    from the series now (rolled back)."""
    with engine.connect() as conn:
        trans = conn.begin()
        known = conn.execute(select(series.c.indicator).where(series.c.gender == "T").distinct())
        now = utcnow()
        Projector(catalog).refresh(conn, set(known.scalars()), now)
        Projector(catalog).refresh_areas(conn, None, now)
        snapshot = projections(conn)
        trans.rollback()
    return snapshot


def current(engine: Engine) -> dict[str, dict[tuple[Any, ...], Any]]:
    with engine.connect() as conn:
        return projections(conn)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def test_throttle_holds_projections_back_and_flush_completes_them(
    engine: Engine, catalog: Catalog
) -> None:
    events = StreamMaker(catalog, seed=5).stream(3_000)
    store = SeriesStore(engine, catalog)
    projector = Projector(catalog, interval=3600, area_interval=3600)
    projected = []
    for start in range(0, len(events), 300):
        result = store.apply(events[start : start + 300], projector)
        projector.done(result.projected)
        projected.append(result.projected)
    assert projected[0], "nothing had been projected yet: the first batch is due"
    assert not any(projected[1:]), "within the interval later batches are not projected"
    assert projector.pending == set(catalog.indicator), "every indicator's totals changed"
    assert projector.pending_areas, "other areas' statuses wait too"
    assert current(engine) != reference(engine, catalog)

    with engine.begin() as conn:
        flushed, documents = projector.flush(conn)
    projector.done(flushed)
    assert not projector.pending
    assert not projector.pending_areas
    assert {d for d, _ in documents} >= {f"indikator:{i}" for i in catalog.indicator}
    assert current(engine) == reference(engine, catalog)


def test_without_interval_every_batch_is_projected(engine: Engine, catalog: Catalog) -> None:
    events = StreamMaker(catalog, seed=6).stream(600)
    store, projector = SeriesStore(engine, catalog), Projector(catalog)
    for start in range(0, len(events), 200):
        result = store.apply(events[start : start + 200], projector)
        touched = {o.indicator for o in events[start : start + 200]}
        assert result.projected
        statuses = {p for p in result.projected if isinstance(p, str) or len(p) == 3}
        assert {p if isinstance(p, str) else p[0] for p in statuses} <= touched
        profiles = {p[:2] for p in result.projected if len(p) == 2}
        assert profiles >= {(o.area, o.gender) for o in events[start : start + 200]}
        projector.done(result.projected)
        assert not projector.pending
        assert not projector.pending_areas
        assert not projector.pending_profiles
    assert current(engine) == reference(engine, catalog)


def _latest_from_history(catalog: Catalog, rows: list[Any]) -> dict[str, dict[str, AreaValue]]:
    """Each stadsdelsnämnd area's latest value beside the city's, picked in Python from all rows."""
    values: dict[tuple[str, str], dict[str, float]] = {}
    for indicator, area, period, value in rows:
        values.setdefault((indicator, area), {})[period] = value
    areas = {n.area for n in catalog.namnder if n.type is NamndType.STADSDELSNAMND and n.area}
    result: dict[str, dict[str, AreaValue]] = {}
    for (indicator, area), by_period in values.items():
        if area not in areas:
            continue
        city = values.get((indicator, catalog.root), {})
        common = [p for p in by_period if p in city] or list(by_period)
        period = max(common, key=lambda p: parse_period(p).sort_key)
        result.setdefault(area, {})[indicator] = AreaValue(
            period, by_period[period], city.get(period)
        )
    return result


def test_latest_values_read_in_sql_equal_those_picked_from_the_whole_history(
    engine: Engine, catalog: Catalog
) -> None:
    store, projector = SeriesStore(engine, catalog), Projector(catalog)
    events = sweeps(catalog, 15_000, seed=3) + StreamMaker(catalog, seed=4).stream(5_000)
    for start in range(0, len(events), 2_500):
        store.apply(events[start : start + 2_500])
    with engine.connect() as conn:
        totals = select(series.c.indicator, series.c.area, series.c.period, series.c.value).where(
            series.c.gender == "T", series.c.value.is_not(None)
        )
        rows = [tuple(r) for r in conn.execute(totals)]
        assert projector._area_values(conn) == _latest_from_history(catalog, rows)
        values, city = latest_city_inputs(catalog, rows)
        expected = [
            s.as_dict()
            for level in RISK_LEVELS
            for s in risk_index(catalog, values, city, AreaLevel(level))
        ]
        assert expected
        docs, changed = projector._risk(conn, utcnow()) or ([], set())
        assert docs == expected
        assert changed == {d["area"] for d in expected}  # none was stored
        conn.rollback()


def test_a_risk_index_a_projection_leaves_as_it_was_is_not_rewritten_and_its_answers_keep_their_revision(
    engine: Engine, catalog: Catalog
) -> None:
    """Only each risk indicator's latest city period counts: a change to an older period is
    projected (its status moves on) without rewriting the risk index or moving its answers."""
    store, projector = SeriesStore(engine, catalog), Projector(catalog)
    maker = StreamMaker(catalog, seed=6)
    order = (AreaLevel.STADSDEL, AreaLevel.STADSDELSOMRADE, AreaLevel.STAD)

    def reported(i: str) -> list[str]:  # the areas of the lowest level it is reported at
        lowest = next(lv for lv in order if lv in catalog.indicator[i].area_levels)
        return [a.id for a in catalog.omraden if a.level is lowest and a.valid_to is None]

    def two_last(i: str) -> list[str]:
        return periods(catalog.indicator[i], range(2023, 2025))[-2:]

    # a ratio rolls up to the city, which the index compares each area with
    indicator = next(
        catalog.indicator[i]
        for i in sorted(projector.risk_ids)
        if catalog.indicator[i].kind is Kind.RATIO
    )
    old, latest = two_last(indicator.id)
    area = reported(indicator.id)[0]
    base = [
        maker.observation(catalog.indicator[i], a, p, "T")
        for i in sorted(projector.risk_ids)
        for p in two_last(i)
        for a in reported(i)
    ]
    store.apply(base, projector)

    def state() -> tuple[int, int, list[Any]]:
        with engine.connect() as conn:
            revisions = read_revisions(conn)
            rows = [tuple(r) for r in conn.execute(select(risk_index_table).order_by("area"))]
        return revisions[RISK][0], revisions[status_key(indicator.id)][0], rows

    risk_before, status_before, rows_before = state()
    assert rows_before, "the risk index is empty: nothing to compare"
    store.apply([maker.observation(indicator, area, old, "T")], projector)
    risk_after, status_after, rows_after = state()
    assert status_after > status_before  # the projection ran for the indicator
    assert (risk_after, rows_after) == (risk_before, rows_before)

    store.apply([maker.observation(indicator, area, latest, "T")], projector)
    risk_moved, _, rows_moved = state()
    assert risk_moved == risk_before + 1
    assert rows_moved != rows_before


@pytest.mark.kafka
def test_worker_projects_the_last_batches_once_the_stream_is_idle(
    kafka: KafkaEndpoint, topic_prefix: str, pg_url: str, catalog: Catalog, tmp_path: Path
) -> None:
    settings = Settings(
        kafka_bootstrap=kafka.bootstrap,
        topic_prefix=topic_prefix,
        database_url=pg_url,
        aggregate_app_id=f"{topic_prefix}aggregate",
    )
    ensure_topics(settings)
    upgrade(pg_url)
    engine = make_engine(pg_url)
    events = StreamMaker(catalog, seed=8).stream(6_000)
    worker = ServiceProcess("aggregate", env_of(settings), tmp_path / "aggregate.log")
    try:
        worker.start()
        produce(settings.kafka_bootstrap or "", settings.topic("observations.v1"), events)
        wait_until_oracle(engine, catalog, events, timeout=180)
        wait_for(
            lambda: current(engine) == reference(engine, catalog),
            timeout=30,
            interval=0.5,
            what="projections equal to a full refresh",
        )
        # throttled: some batches left their statuses to a later projection, which says how long
        # they waited; never longer than the interval plus a few batches on this small load
        lags = worker.metric("stadspuls_aggregate_status_lag_seconds_count")
        waited = worker.metric("stadspuls_aggregate_status_lag_seconds_sum")
        assert lags >= 2
        assert waited > 0
    finally:
        worker.stop()
        engine.dispose()
