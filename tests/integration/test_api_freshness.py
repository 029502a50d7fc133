"""The read API on an empty read model, and how its answers follow new commits (SQLite, PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bench.api.dataset import load
from bench.api.server import serving
from services.api.app import create_app
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation, utcnow
from shared.infra.wait import wait_for
from shared.readmodel.projections import Projector
from shared.settings import Settings

SHARE = "behorighet-gymnasiet-ak9"
LISTS = [
    "/v1/etappmal",
    "/v1/namnder",
    "/v1/indikatorer",
    f"/v1/indikatorer/{SHARE}/observationer",
    "/v1/omraden",
    "/v1/omraden/rinkeby/indikatorer",
]
DETAILS = [
    "/v1/catalog",
    "/v1/etappmal/behorighet-gymnasiet",
    "/v1/namnder/rinkeby-kista-sdn",
    f"/v1/indikatorer/{SHARE}",
    "/v1/omraden/rinkeby-kista",
    "/v1/omraden/ytterstaden",
]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A fresh read model at the newest schema."""
    upgrade(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def http(db_url: str, engine: Engine) -> Iterator[httpx.Client]:
    """A client of the API serving the fresh read model."""
    app = create_app(Settings(database_url=db_url), engine=engine, catalog=default_catalog())
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def share(area: str, period: str, num: float, den: float, received_at: datetime) -> Observation:
    return Observation(
        observation_id=uuid.uuid4(),
        source="utbildningsforvaltningen",
        received_at=received_at,
        updated_at=received_at,
        indicator=SHARE,
        area=area,
        period=period,
        value=100 * num / den,
        numerator=num,
        denominator=den,
    )


def test_an_empty_read_model_answers_everything(http: httpx.Client) -> None:
    for path in LISTS + DETAILS:
        response = http.get(path)
        assert response.status_code == 200, (path, response.text)
        assert "ETag" in response.headers
        assert "X-Data-As-Of" not in response.headers  # nothing is reflected yet
        if path in LISTS:
            table = http.get(path, params={"format": "csv"}).text
            assert table.count("\r\n") == 1 + response.json()["total"]
    goals = http.get("/v1/etappmal").json()
    assert goals["total"] == 6
    assert {g["status"] for g in goals["items"]} == {"saknar_data"}
    assert all(g["computed_at"] is None for g in goals["items"])
    series = http.get(f"/v1/indikatorer/{SHARE}/observationer", params={"format": "csv"})
    assert series.text.count("\r\n") == 1  # the header and nothing else
    assert series.text.startswith("indicator,area,area_level,period,")
    ready = http.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["revision"] == 0


def changed(response: httpx.Response) -> httpx.Response | None:
    """The response if it is a new answer, None while it is still 304 Not Modified."""
    return response if response.status_code == 200 else None


def test_answers_follow_each_commit(http: httpx.Client, engine: Engine) -> None:
    catalog: Catalog = default_catalog()
    t0 = datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    load(
        engine,
        catalog,
        [share("rinkeby", "2024", 214, 300, t0), share("kista", "2024", 100, 200, t0)],
    )
    path = f"/v1/indikatorer/{SHARE}/observationer"
    # answers follow the read model within a fraction of a second (the read state is polled)
    first = wait_for(
        lambda: (
            (r := http.get(path, params={"area": "rinkeby-kista"})).headers.get("X-Data-As-Of")
            and r
        ),
        timeout=5,
        what="an answer that reflects the first commit",
    )
    assert first.headers["X-Data-As-Of"] == "2025-02-01T08:00:00Z"
    [row] = first.json()["items"]
    assert row["value"] == pytest.approx(100 * 314 / 500)
    assert row["origin"] == "computed"
    assert row["coverage"] == pytest.approx(2 / 4)
    etag = first.headers["ETag"]
    goal_etag = http.get("/v1/etappmal/behorighet-gymnasiet").headers["ETag"]

    # a correction of Rinkeby arrives later: every answer moves on, the old ETag no longer matches
    load(engine, catalog, [share("rinkeby", "2024", 250, 300, t0 + timedelta(hours=1))])
    second = wait_for(
        lambda: changed(
            http.get(path, params={"area": "rinkeby-kista"}, headers={"If-None-Match": etag})
        ),
        timeout=5,
        what="an answer that reflects the new commit",
    )
    assert second.headers["ETag"] != etag
    assert second.headers["X-Data-As-Of"] == "2025-02-01T09:00:00Z"
    assert second.json()["items"][0]["value"] == pytest.approx(100 * 350 / 500)
    assert http.get("/v1/etappmal/behorighet-gymnasiet").headers["ETag"] != goal_etag
    third = http.get(
        path, params={"area": "rinkeby-kista"}, headers={"If-None-Match": second.headers["ETag"]}
    )
    assert third.status_code == 304


def test_a_projection_without_a_batch_moves_the_answers_on(
    http: httpx.Client, engine: Engine
) -> None:
    catalog: Catalog = default_catalog()
    t0 = datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    load(engine, catalog, [share("rinkeby", "2024", 214, 300, t0)])
    wait_for(lambda: http.get("/readyz").json()["revision"] > 0, timeout=5, what="a commit seen")
    path = "/v1/namnder/rinkeby-kista-sdn"
    etag = wait_for(
        lambda: (r := http.get(path)).status_code == 200 and r.headers["ETag"],
        timeout=5,
        what="an answer",
    )
    # the timer's refresh of one indicator that no etappmål follows: the nämnd rollups change
    later = utcnow() + timedelta(days=400)
    with engine.begin() as conn:
        Projector(catalog).refresh(conn, ["anmalda-valdsbrott"], later)
    moved = wait_for(
        lambda: changed(http.get(path, headers={"If-None-Match": etag})),
        timeout=5,
        what="an answer that reflects the refresh",
    )
    assert moved.headers["ETag"] != etag
    assert moved.json()["computed_at"] == later.isoformat().replace("+00:00", "Z")


def test_not_ready_on_an_older_schema_says_to_upgrade(db_url: str) -> None:
    upgrade(db_url, "0002")
    app = create_app(Settings(database_url=db_url), catalog=default_catalog())
    with serving(app) as base:
        ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["schema_revision"] == "0002"
    assert "stadspuls db upgrade" in body["detail"]


def test_not_ready_without_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    app = create_app(Settings(database_url=url), catalog=default_catalog())
    with serving(app) as base:
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        assert httpx.get(f"{base}/healthz").status_code == 200
        goals = httpx.get(f"{base}/v1/etappmal")
        assert goals.status_code == 503
        assert goals.headers["content-type"] == "application/problem+json"
        assert "Retry-After" in goals.headers
