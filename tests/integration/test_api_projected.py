"""Statuses of every area and gender are projected, and answers follow the keys they read
(SQLite, PostgreSQL).

- The API reading projected statuses answers byte for byte as it answers computing them on
  request from the same rows at the same moment, for several areas and genders.
- A commit about indicator A leaves the memoised answer and the ETag of an answer about only
  indicator B as they were, and moves those of an answer about A.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from bench.api.server import serving
from services.api.app import create_app
from services.api.caching import Rendered
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation, utcnow
from shared.infra.wait import wait_for
from shared.readmodel.projections import Projector
from shared.readmodel.store import SeriesStore
from shared.settings import Settings
from tests.streams import StreamMaker

CATALOG = default_catalog()
AREAS = ["rinkeby-kista", "sodermalm", "ytterstaden", "stockholm", "rinkeby"]
GENDERS = ["T", "K", "M"]
A = "behorighet-gymnasiet-ak9"  # of the etappmål behorighet-gymnasiet
B = "uvas-16-24"  # of unga-som-varken-arbetar-eller-studerar, which A is not
B_GOAL = "unga-som-varken-arbetar-eller-studerar"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _build(engine: Engine, catalog: Catalog) -> None:
    """A read model of a stream, then every summary projected once more at one moment, as the
    last change: the moment answers computed on request are judged at."""
    events = StreamMaker(catalog, seed=31).stream(3_000)
    store, projector = SeriesStore(engine, catalog), Projector(catalog)
    for start in range(0, len(events), 500):
        store.apply(events[start : start + 500], projector)
    with engine.begin() as conn:
        now = utcnow()
        projector.refresh(conn, catalog.indicator, now)
        projector.refresh_areas(conn, None, now)


def _paths() -> list[str]:
    paths = []
    for area in AREAS:
        for gender in GENDERS:
            query = f"area={area}&gender={gender}"
            paths += [
                f"/v1/etappmal?{query}",
                f"/v1/etappmal/behorighet-gymnasiet?{query}",
                f"/v1/indikatorer?{query}",
                f"/v1/omraden/{area}?gender={gender}",
                f"/v1/omraden/{area}/indikatorer?gender={gender}",
            ]
    return paths


def test_projected_statuses_answer_as_those_computed_on_request(
    db_url: str, engine: Engine
) -> None:
    _build(engine, CATALOG)
    settings = Settings(database_url=db_url)
    projected = create_app(settings, engine=engine, catalog=CATALOG)
    on_request = create_app(settings, engine=engine, catalog=CATALOG)
    on_request.state.context = replace(on_request.state.context, projected=False)
    with (
        serving(projected) as one,
        serving(on_request) as other,
        httpx.Client(base_url=one, timeout=30) as first,
        httpx.Client(base_url=other, timeout=30) as second,
    ):
        known = 0
        for path in _paths():
            got, want = first.get(path), second.get(path)
            assert got.status_code == want.status_code == 200, (path, got.text)
            assert got.content == want.content, path
            known += got.text.count('"status":"') - got.text.count('"status":"saknar_data"')
        assert known > 20, "the areas and genders compared have statuses other than no data"


def _observation(indicator: str, area: str, numerator: float) -> Observation:
    now = utcnow()
    return Observation(
        observation_id=uuid.uuid4(),
        source="utbildningsforvaltningen",
        received_at=now,
        updated_at=now,
        indicator=indicator,
        area=area,
        period="2024",
        value=100 * numerator / 300,
        numerator=numerator,
        denominator=300,
    )


def _memoised(app: FastAPI, path: str) -> Rendered | None:
    """The answer the app's memo holds for `path` (JSON, public view), if any."""
    memo = app.state.context.answers.memo
    found = [r for k, r in memo._items.items() if k.split("|")[1].split("?")[0] == path]
    return found[0] if found else None


def _etag(client: httpx.Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return str(response.headers["ETag"])


def test_a_commit_keeps_the_memo_and_etag_of_answers_it_does_not_change(
    db_url: str, engine: Engine
) -> None:
    _build(engine, CATALOG)
    app = create_app(Settings(database_url=db_url), engine=engine, catalog=CATALOG)
    about_a, about_b = f"/v1/indikatorer/{A}", f"/v1/indikatorer/{B}"
    goal_b = f"/v1/etappmal/{B_GOAL}"
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        before = {p: _etag(client, p) for p in (about_a, about_b, goal_b)}
        memo_b, memo_goal = _memoised(app, about_b), _memoised(app, goal_b)
        assert memo_b is not None
        assert memo_goal is not None

        store = SeriesStore(engine, CATALOG)
        store.apply([_observation(A, "rinkeby", 165)], Projector(CATALOG))
        moved = wait_for(
            lambda: _etag(client, about_a) != before[about_a] or None,
            timeout=10,
            what="the ETag of the answer about A to follow the commit",
        )
        assert moved
        assert _etag(client, about_b) == before[about_b]
        assert _etag(client, goal_b) == before[goal_b]
        assert _memoised(app, about_b) is memo_b, "B's answer was not rendered again"
        assert _memoised(app, goal_b) is memo_goal
        answer = client.get(about_b, headers={"If-None-Match": before[about_b]})
        assert answer.status_code == 304

        # and the commit's area answers move only for the areas whose statuses it changed
        area_a = "/v1/etappmal?area=rinkeby"
        other_area = "/v1/etappmal?area=sodermalm"
        seen = {p: _etag(client, p) for p in (area_a, other_area)}
        store.apply([_observation(A, "rinkeby", 200)], Projector(CATALOG))
        wait_for(
            lambda: _etag(client, area_a) != seen[area_a] or None,
            timeout=10,
            what="the ETag of the area the commit changed",
        )
        assert _etag(client, other_area) == seen[other_area]
