"""The aggregator's SQL store on SQLite and PostgreSQL, batch by batch, against the oracle:
values, origins, coverage, statuses and etappmål — whatever the batch boundaries and arrival order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest
from sqlalchemy import Engine, select

from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.db.schema import read_model_state
from shared.domain.observation import as_utc
from shared.domain.rollup import Outcome
from shared.readmodel.projections import Projector
from shared.readmodel.store import SeriesStore
from tests.services import read_model_mismatches, status_mismatches
from tests.streams import StreamMaker


# one event a batch (a transaction and a projection each) is slow: CI runs 97 and 2 000
@pytest.mark.parametrize("batch", [pytest.param(1, marks=pytest.mark.slow), 97, 2_000])
def test_store_equals_oracle_for_any_batching(db_url: str, batch: int) -> None:
    catalog = default_catalog()
    count = {1: 400, 97: 1_500}.get(batch, 3_000)  # each batch commits and projects
    events = StreamMaker(catalog, seed=batch).stream(count, years=range(2021, 2026))
    upgrade(db_url)
    engine = make_engine(db_url)
    store, projector = SeriesStore(engine, catalog), Projector(catalog)
    outcomes = []
    for start in range(0, len(events), batch):
        outcomes += store.apply(events[start : start + batch], projector).outcomes
    assert read_model_mismatches(engine, catalog, events) == []
    assert status_mismatches(engine, catalog, events) == []
    assert Outcome.DUPLICATE in outcomes
    assert Outcome.SUPERSEDED in outcomes

    shuffled = events[:]
    random.Random(5).shuffle(shuffled)
    replay = store.apply(shuffled, projector)  # a full redelivery in another order changes nothing
    assert Outcome.APPLIED not in replay.outcomes
    assert read_model_mismatches(engine, catalog, events) == []
    with engine.connect() as conn:
        state = conn.execute(select(read_model_state)).one()
    assert state.data_as_of is not None
    engine.dispose()


def test_every_projection_bumps_the_read_state_in_its_one_row(db_url: str) -> None:
    catalog = default_catalog()
    upgrade(db_url)
    engine = make_engine(db_url)
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with engine.begin() as conn:  # a refresh before any batch: the row comes into being
        Projector(catalog).refresh(conn, catalog.indicator, now)
    assert _state(engine) == (1, None, None, now)

    store, projector = SeriesStore(engine, catalog), Projector(catalog)
    store.apply(StreamMaker(catalog, seed=2).stream(60), projector)
    batch = _state(engine)
    assert batch.revision > 1
    assert batch.data_as_of is not None
    assert batch.committed_at is not None
    assert batch.refreshed_at is not None
    # the batch's own projection; the commit's time is taken after it, under the state row's lock
    assert batch.refreshed_at <= batch.committed_at

    later = batch.refreshed_at + timedelta(days=30)
    with engine.begin() as conn:  # the timer's refresh, of an indicator no etappmål follows
        projector.refresh(conn, ["anmalda-valdsbrott"], later)
    assert _state(engine) == (batch.revision + 1, batch.data_as_of, batch.committed_at, later)
    engine.dispose()


class State(NamedTuple):
    """The one row of `read_model_state`, times in UTC."""

    revision: int
    data_as_of: datetime | None
    committed_at: datetime | None
    refreshed_at: datetime | None


def _state(engine: Engine) -> State:
    with engine.connect() as conn:
        row = conn.execute(
            select(
                read_model_state.c.revision,
                read_model_state.c.data_as_of,
                read_model_state.c.committed_at,
                read_model_state.c.refreshed_at,
            )
        ).one()
    revision, *moments = row
    return State(revision, *(None if m is None else as_utc(m) for m in moments))
