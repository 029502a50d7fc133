"""Area profiles are projected with the statuses they show (SQLite, PostgreSQL).

- A commit that changes what a profile shows (an area's rows and the city's) leaves the
  profile's answer, its ETag and the memo as they were until the aggregator projects profiles;
  then the answer is what the API computes from the rows at that moment, byte for byte.
- A projection that finds a profile as stored does not move its answer key.
- A projection of the social-risk index rewrites, and moves the keys of, only the areas' rows
  that changed (a profile reads its own area's row).
- A read model with no profile projected (before the aggregator's first projection of them, or
  after a rebuild reset the answer keys) is answered from the rows, and follows them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select, update

from bench.api.server import serving
from services.api.app import create_app
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.db.schema import area_profiles, risk_index
from shared.domain.observation import Observation, utcnow
from shared.infra.wait import wait_for
from shared.readmodel.projections import Projector
from shared.readmodel.revisions import (
    RISK,
    profile_key,
    read_revisions,
    reset_answers,
    risk_key,
)
from shared.readmodel.store import SeriesStore
from shared.settings import Settings
from tests.streams import StreamMaker

CATALOG = default_catalog()
INDICATOR = "behorighet-gymnasiet-ak9"
STADSDEL = "rinkeby"  # of the stadsdelsområde rinkeby-kista
PARENT = "rinkeby-kista"
PERIOD = "2025"
# the areas whose own rows a value for the stadsdel changes: it, its parents, the virtual ones
TOUCHED = {STADSDEL, PARENT, CATALOG.root, "ytterstaden", "fokusomraden"}
PROFILE = f"/v1/omraden/{PARENT}?gender=T"
TABLE = f"/v1/omraden/{PARENT}/indikatorer?gender=T&format=csv"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _build(engine: Engine) -> tuple[SeriesStore, Projector]:
    """A read model of a stream with everything projected; later batches project nothing."""
    store, projector = SeriesStore(engine, CATALOG), Projector(CATALOG)
    events = StreamMaker(CATALOG, seed=41).stream(2_000)
    for start in range(0, len(events), 500):
        store.apply(events[start : start + 500], projector)
    with engine.begin() as conn:
        projected, _ = projector.flush(conn)
    projector.done(projected)
    assert not projector.idle_work
    projector.interval = projector.area_interval = 3600.0  # batches now only mark
    return store, projector


def _revision(engine: Engine, area: str) -> int:
    with engine.connect() as conn:
        return read_revisions(conn).get(profile_key(area, "T"), (0, None))[0]


def _observation(value: float) -> Observation:
    now = utcnow()
    return Observation(
        observation_id=uuid.uuid4(),
        source="utbildningsforvaltningen",
        received_at=now,
        updated_at=now,
        indicator=INDICATOR,
        area=STADSDEL,
        period=PERIOD,
        value=value,
        numerator=value * 3,
        denominator=300,
    )


def _on_request(db_url: str, engine: Engine) -> FastAPI:
    """An app over the same read model that makes every profile from the rows, on request."""
    other = create_app(Settings(database_url=db_url), engine=engine, catalog=CATALOG)
    other.state.context = replace(other.state.context, projected=False)
    return other


def _row(response: httpx.Response) -> dict[str, object]:
    """The profile's row of the indicator."""
    rows = response.json()["indikatorer"]
    return next(r for r in rows if r["indicator"] == INDICATOR)  # type: ignore[no-any-return]


def _stored(engine: Engine) -> dict[str, dict[str, object]]:
    """Each area's stored total profile row of the indicator."""
    t = area_profiles.c
    with engine.connect() as conn:
        found = conn.execute(select(t.area, t.document).where(t.gender == "T")).all()
    return {
        area: next((r for r in doc["indikatorer"] if r["indicator"] == INDICATOR), {})
        for area, doc in found
    }


def _seen(client: httpx.Client, moment: str, path: str = PROFILE) -> httpx.Response:
    """`path` once the app's read state reflects the commit whose newest time is `moment`."""
    found: list[httpx.Response] = []

    def reflected() -> bool:
        found[:] = [client.get(path)]
        return found[0].headers.get("X-Data-As-Of") == moment

    wait_for(reflected, timeout=10, interval=0.05, what="the API to read the new commit")
    return found[0]


def test_a_profile_moves_when_profiles_are_projected_not_with_every_batch(
    db_url: str, engine: Engine
) -> None:
    store, projector = _build(engine)
    app = create_app(Settings(database_url=db_url), engine=engine, catalog=CATALOG)
    with (
        serving(app) as base,
        serving(_on_request(db_url, engine)) as other,
        httpx.Client(base_url=base, timeout=30) as client,
        httpx.Client(base_url=other, timeout=30) as fresh,
    ):
        before = client.get(PROFILE)
        table_before = client.get(TABLE)
        assert before.status_code == table_before.status_code == 200
        assert before.content == fresh.get(PROFILE).content  # what the rows say, at first
        # areas whose rows the commit leaves and whose latest period of the indicator is not its
        # (the city's value of that period changes): their profiles show nothing new
        untouched = {
            area: _revision(engine, area)
            for area, row in _stored(engine).items()
            if area not in TOUCHED and row.get("period") != PERIOD
        }
        assert len(untouched) > 10

        event = _observation(91.5)
        store.apply([event], projector)
        moment = event.received_at.isoformat().replace("+00:00", "Z")
        held = _seen(client, moment)
        # the commit changed what the profile shows ...
        assert _row(_seen(fresh, moment)) != _row(held)
        assert _row(fresh.get(PROFILE))["period"] == PERIOD
        # ... but its answer waits for the projection of profiles
        assert held.content == before.content
        assert held.headers["ETag"] == before.headers["ETag"]
        assert client.get(TABLE).content == table_before.content
        assert (PARENT, "T") in projector.pending_profiles

        with engine.begin() as conn:
            projected, _ = projector.flush(conn)
        projector.done(projected)
        wait_for(
            lambda: client.get(PROFILE).headers["ETag"] != before.headers["ETag"],
            timeout=10,
            interval=0.05,
            what="the profile to move with its projection",
        )
        after = client.get(PROFILE)
        assert _row(after)["period"] == PERIOD
        assert after.content == fresh.get(PROFILE).content
        assert client.get(TABLE).content == fresh.get(TABLE).content
        # every profile was computed again (the city's rows changed), but only those that show
        # something new were written and moved
        assert {area: _revision(engine, area) for area in untouched} == untouched
        assert _revision(engine, PARENT) > 0


def test_without_a_projected_profile_the_answer_follows_the_rows(
    db_url: str, engine: Engine
) -> None:
    store, projector = _build(engine)
    with engine.begin() as conn:
        reset_answers(conn, utcnow())  # as a rebuild leaves it: no profile key yet
    app = create_app(Settings(database_url=db_url), engine=engine, catalog=CATALOG)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        before = client.get(PROFILE)
        assert before.status_code == 200
        event = _observation(88.25)
        store.apply([event], projector)
        after = _seen(client, event.received_at.isoformat().replace("+00:00", "Z"))
        assert after.headers["ETag"] != before.headers["ETag"]
        assert _row(after)["period"] == PERIOD
        assert _row(after) != _row(before)
        assert _revision(engine, PARENT) == 0  # read from the rows, not the stored profile


def test_a_risk_projection_rewrites_only_the_rows_that_changed(engine: Engine) -> None:
    _, projector = _build(engine)
    t = risk_index.c
    with engine.begin() as conn:
        rows = {r.area: r for r in conn.execute(select(t.area, t.document, t.computed_at))}
        assert len(rows) > 10
        altered, kept = sorted(rows)[:2]
        wrong = rows[altered].document | {"rank": 999}
        conn.execute(update(risk_index).where(t.area == altered).values(document=wrong))
        before = read_revisions(conn)
    now = utcnow()
    with engine.begin() as conn:
        projector.refresh(conn, sorted(projector.risk_ids)[:1], now)
    with engine.connect() as conn:
        after = {r.area: r for r in conn.execute(select(t.area, t.document, t.computed_at))}
        revisions = read_revisions(conn)
    assert after[altered].document == rows[altered].document  # made right again, now
    assert after[altered].computed_at != rows[altered].computed_at
    assert {a: r.computed_at for a, r in after.items() if a != altered} == {
        a: r.computed_at for a, r in rows.items() if a != altered
    }
    assert revisions[risk_key(altered)][0] == before.get(risk_key(altered), (0, None))[0] + 1
    assert revisions.get(risk_key(kept)) == before.get(risk_key(kept))
    assert revisions[RISK][0] == before[RISK][0] + 1
