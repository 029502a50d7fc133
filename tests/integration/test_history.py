"""Versions and changes through the aggregator's store and the read API, on SQLite and PostgreSQL:
every version kept with its outcome as of arrival, `historik`, and `changed_since` followed by a
client that loops on X-Data-As-Of."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from bench.api.server import serving
from services.api import caching
from services.api.app import create_app
from services.api.caching import read_state, rfc3339
from services.api.rapporter import freeze
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.db.schema import series, series_versions
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation
from shared.infra.wait import wait_for
from shared.readmodel import store as store_module
from shared.readmodel.projections import Projector
from shared.readmodel.store import BatchResult, SeriesStore
from shared.readmodel.versions import Delivery
from shared.settings import Settings
from tests.streams import StreamMaker

SHARE = "behorighet-gymnasiet-ak9"
TOPIC = "stadspuls.observations.v1"
HISTORIK = f"/v1/indikatorer/{SHARE}/historik"
SERIES = f"/v1/indikatorer/{SHARE}/observationer"


@dataclass
class Model:
    """A read model written by the aggregator's store, and the API on it."""

    engine: Engine
    catalog: Catalog
    store: SeriesStore
    projector: Projector
    http: httpx.Client
    offset: int = 0

    def deliver(
        self, events: list[Observation], again: list[Delivery] | None = None
    ) -> BatchResult:
        """Apply one batch as the agent does: each event at its next offset (or at `again`)."""
        if again is None:
            again = [(TOPIC, 0, self.offset + i) for i in range(len(events))]
            self.offset += len(events)
        return self.store.apply(events, self.projector, {(TOPIC, 0): self.offset}, again)

    def get(self, path: str, **params: Any) -> httpx.Response:
        """GET, failing the test on any 5xx."""
        response = self.http.get(path, params=params)
        assert response.status_code < 500, response.text
        return response

    def every(self, path: str, **params: Any) -> tuple[list[dict[str, Any]], httpx.Response]:
        """Every item of a list, page by page, and the last page's answer."""
        rows: list[dict[str, Any]] = []
        while True:
            response = self.get(path, **params, offset=len(rows), limit=1000)
            assert response.status_code == 200, response.text
            page = response.json()
            rows += page["items"]
            if len(rows) >= page["total"]:
                return rows, response


@pytest.fixture
def model(db_url: str) -> Iterator[Model]:
    catalog = default_catalog()
    upgrade(db_url)
    engine = make_engine(db_url)
    store, projector = SeriesStore(engine, catalog), Projector(catalog)
    app = create_app(Settings(database_url=db_url), engine=engine, catalog=catalog)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        yield Model(engine, catalog, store, projector, http)
    engine.dispose()


def _version(base: Observation, minutes: int, **changes: Any) -> Observation:
    moment = datetime(2025, 3, 1, 8, tzinfo=UTC) + timedelta(minutes=minutes)
    return base.model_copy(update={"updated_at": moment, "received_at": moment, **changes})


def test_every_version_is_kept_with_its_outcome_and_changes_are_exact(model: Model) -> None:
    catalog = model.catalog
    maker = StreamMaker(catalog, seed=3)
    base = maker.observation(catalog.indicator[SHARE], "rinkeby", "2024", "T")
    v1 = _version(
        base,
        1,
        observation_id=maker.observation(
            catalog.indicator[SHARE], "rinkeby", "2024", "T"
        ).observation_id,
    )
    v2 = _version(
        base,
        2,
        observation_id=maker.observation(
            catalog.indicator[SHARE], "rinkeby", "2024", "T"
        ).observation_id,
        value=50.0,
        numerator=50.0,
        denominator=100.0,
    )
    v3 = _version(base, 3, value=60.0, numerator=60.0, denominator=100.0)
    kista = maker.observation(catalog.indicator[SHARE], "kista", "2024", "T")
    model.deliver([v1, kista])
    first = list(range(2))
    model.deliver([v3])
    model.deliver([v2])  # older than the winner when it arrives
    model.deliver([v1, kista], again=[(TOPIC, 0, i) for i in first])  # a redelivered batch
    model.deliver([v3.model_copy(update={"received_at": v3.received_at + timedelta(hours=1)})])
    with model.engine.connect() as conn:
        winner = conn.execute(
            select(series.c.observation_id, series.c.value).where(
                series.c.indicator == SHARE, series.c.area == "rinkeby"
            )
        ).one()
    assert (winner.observation_id, winner.value) == (str(v3.observation_id), 60.0)

    mark = datetime.now(UTC)
    retraction = _version(
        base,
        4,
        observation_id=maker.observation(
            catalog.indicator[SHARE], "rinkeby", "2024", "T"
        ).observation_id,
        value=None,
        numerator=None,
        denominator=None,
        retract=True,
    )
    model.deliver([retraction])

    versions, _ = model.every(HISTORIK, area="rinkeby", period="2024", gender="T")
    listed = [(v["observation_id"], v["outcome"]) for v in versions]
    assert listed == [
        (str(v1.observation_id), "applied"),
        (str(v2.observation_id), "superseded"),
        (str(v3.observation_id), "applied"),
        (str(v3.observation_id), "duplicate"),
        (str(retraction.observation_id), "applied"),
    ]
    assert versions[1]["value"] == 50.0
    assert versions[-1]["retract"] is True
    assert versions[-1]["value"] is None
    everything, response = model.every(HISTORIK)
    assert len(everything) == 6
    assert response.headers["X-Total-Count"] == "6"
    csv_rows = model.get(HISTORIK, format="csv").text.strip().splitlines()
    assert len(csv_rows) == 1 + 6
    assert "outcome" in csv_rows[0]

    # the API's read state lags the newest commit by up to a refresh; its header comes from it
    wait_for(lambda: _caught_up(model, mark.isoformat()), timeout=30, what="the read state")
    changed, response = model.every(SERIES, changed_since=mark.isoformat())
    expected = {k[1] for k in model.store.rollup.keys_for(SHARE, "rinkeby", "2024", "T")}
    assert {r["area"] for r in changed} == expected  # the retracted row and its re-rolled parents
    (gone,) = [r for r in changed if r["area"] == "rinkeby"]
    assert gone["value"] is None
    assert gone["retracted"] is True
    assert all(not r["retracted"] for r in changed if r["area"] != "rinkeby")
    watermark = datetime.fromisoformat(response.headers["X-Data-As-Of"])
    assert watermark <= mark


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2999-01-01T00:00:00Z", "future"),
        ("yesterday", "rfc 3339"),
        ("2025-01-01T00:00:00", "time zone"),
    ],
)
def test_a_bad_changed_since_is_400_naming_it(model: Model, value: str, reason: str) -> None:
    response = model.get(SERIES, changed_since=value)
    assert response.status_code == 400
    assert "changed_since" in response.text
    assert reason in response.text.lower()


def test_an_observation_id_reused_for_other_numbers_is_a_conflict_not_a_retry(
    model: Model,
) -> None:
    maker = StreamMaker(model.catalog, seed=9)
    first = maker.observation(model.catalog.indicator[SHARE], "husby", "2024", "T")
    other = maker.observation(model.catalog.indicator[SHARE], "kista", "2024", "T")
    assert model.deliver([first, other]).conflicts == []
    retry = first.model_copy(update={"received_at": first.received_at + timedelta(minutes=1)})
    assert model.deliver([retry]).conflicts == []  # a producer's retry: the same numbers
    reused = first.model_copy(
        update={
            "value": 12.5,
            "numerator": 25.0,
            "denominator": 200.0,
            "updated_at": first.updated_at + timedelta(days=1),
        }
    )
    twice = reused.model_copy(update={"value": 13.0, "numerator": 26.0})
    result = model.deliver([reused, twice])  # the second also differs from the first received
    assert [str(o.observation_id) for o in result.conflicts] == [str(first.observation_id)] * 2
    versions, _ = model.every(HISTORIK, area="husby")
    assert [v["outcome"] for v in versions] == ["applied", "duplicate", "duplicate", "duplicate"]
    with model.engine.connect() as conn:
        shown = conn.execute(
            select(series.c.value).where(series.c.indicator == SHARE, series.c.area == "husby")
        ).scalar_one()
    assert shown == first.value  # changes nothing, as the contract says; now it is reported


@pytest.mark.parametrize(
    ("period", "reason"), [("2024-03", "per year"), ("2024-13", "not a period")]
)
def test_historik_of_a_period_the_indicator_cannot_have_is_400(
    model: Model, period: str, reason: str
) -> None:
    assert model.catalog.indicator[SHARE].period_type.value == "year"
    response = model.get(HISTORIK, period=period)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["parameter"] == "period"
    assert reason in response.json()["detail"]


def test_changed_since_long_ago_is_every_row(model: Model) -> None:
    maker = StreamMaker(model.catalog, seed=5)
    model.deliver([maker.observation(model.catalog.indicator[SHARE], "kista", "2024", "T")])
    wait_for(lambda: model.get(SERIES).json()["total"] > 0, timeout=30, what="the read state")
    every = model.get(SERIES).json()["total"]
    for value in ("1900-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00"):  # the last once a 500
        response = model.get(SERIES, changed_since=value)
        assert (response.status_code, response.json()["total"]) == (200, every), value


@pytest.mark.parametrize("moment", ["as_of", "rapport"])
def test_changed_since_with_a_past_moment_is_400_naming_both(model: Model, moment: str) -> None:
    now = datetime.now(UTC)
    past = (now - timedelta(minutes=1)).isoformat()
    freeze(model.engine, "CHANGES", now - timedelta(minutes=2), None, now)
    given = "CHANGES" if moment == "rapport" else "2025-01-01T00:00:00Z"
    response = model.get(SERIES, changed_since=past, **{moment: given})
    assert response.status_code == 400
    assert "changed_since" in response.text
    assert "as_of or rapport" in response.text


def test_historik_refuses_unknown_indicators_and_bad_parameters(model: Model) -> None:
    assert model.get("/v1/indikatorer/no-such/historik").status_code == 404
    for name, value in (("area", "atlantis"), ("period", "2024-13"), ("gender", "X")):
        response = model.get(HISTORIK, **{name: value})
        assert response.status_code == 400
        assert name in response.text


def _caught_up(model: Model, cursor: str) -> bool:
    with model.engine.connect() as conn:
        state = read_state(conn)
    response = model.get(SERIES, changed_since=cursor, limit=1)
    return response.headers.get("X-Data-As-Of") == rfc3339(
        state.changes_as_of() or state.data_as_of
    )


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else rfc3339(moment)


def test_a_client_looping_on_x_data_as_of_misses_no_change(
    model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No slack at all: every batch stamps its rows again under the state row's lock, and the
    # cursor is the last commit itself, so a row stamped too early would be missed.
    for module in (store_module, caching):
        monkeypatch.setattr(module, "ROW_TIME_SLACK", timedelta(0))
    monkeypatch.setattr(caching, "CLOCK_SKEW", timedelta(0))
    events = StreamMaker(model.catalog, seed=11).stream(1_500, years=range(2023, 2025))
    rng = random.Random(4)
    cursor = "2000-01-01T00:00:00Z"
    client: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    indicators = sorted({e.indicator for e in events})
    start = 0
    while start <= len(events):
        size = rng.randint(1, 300)
        model.deliver(events[start : start + size])
        start += size
        if start >= len(events):  # the last poll: once the API's read state has the last commit
            wait_for(lambda c=cursor: _caught_up(model, c), timeout=30, what="the read state")
        cursors = []
        for indicator in indicators:
            path = f"/v1/indikatorer/{indicator}/observationer"
            rows, response = model.every(path, changed_since=cursor)
            for row in rows:
                client[(row["indicator"], row["area"], row["period"], row["gender"])] = row
            cursors.append(response.headers.get("X-Data-As-Of", cursor))  # none: nothing yet
        cursor = min(cursors)  # one read state may have moved between the indicators
    with model.engine.connect() as conn:
        stored = {
            (r.indicator, r.area, r.period, r.gender): (r.value, r.retracted)
            for r in conn.execute(select(series))
        }
        recorded = conn.execute(select(func.count()).select_from(series_versions)).scalar_one()
    seen = {k: (r["value"], r["retracted"]) for k, r in client.items()}
    assert seen == stored
    assert recorded == len(events)  # one version row per delivery
