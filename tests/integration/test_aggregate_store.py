"""The aggregator's SQL store on SQLite and PostgreSQL, batch by batch, against the oracle:
values, origins, coverage, statuses and etappmål — whatever the batch boundaries and arrival order."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from services.aggregate.projections import Projector
from services.aggregate.store import SeriesStore
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.db.schema import read_model_state
from shared.domain.rollup import Outcome
from tests.services import read_model_mismatches, status_mismatches
from tests.streams import StreamMaker


@pytest.mark.parametrize("batch", [1, 97, 2_000])
def test_store_equals_oracle_for_any_batching(db_url: str, batch: int) -> None:
    catalog = default_catalog()
    events = StreamMaker(catalog, seed=batch).stream(
        3_000 if batch > 1 else 400, years=range(2021, 2026)
    )
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
