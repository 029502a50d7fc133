"""The PxWeb connector against a local PxWeb server answering from recorded v1 and v2 files.

Its rows are judged by `validate_batch` against the catalog, the same rules as
`POST /v1/observations`; the runner that publishes them is tested with the connector framework.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import httpx
import pytest
import yaml

from services.ingest.connectors.base import ConnectorError, Pulled
from services.ingest.connectors.pxweb.connector import PxWebConnector
from services.ingest.connectors.pxweb.pacing import PxWebLimits
from shared.catalog import CATALOG_PATH, load_catalog_text
from shared.domain.catalog import Catalog
from shared.domain.validation import Scope, validate_batch
from tests.pxweb_server import FakeTime, Fault, PxWebServer, pxweb_server

V1 = "/v1/doris/sv/stad"
V2 = "/api/v2"
TABLE = f"{V1}/AM/AM0207/Forvarvs14SDO"
FOLDER = f"{V1}/AM/AM0207"
INCOME = f"{V2}/tables/TAB4552"
# Region codes of the 14 stadsdelsområden (before 2020-07-01) and of Hägersten-Älvsjö after.
DISTRICTS = {
    "0180": "stockholm",
    "01": "rinkeby-kista",
    "02": "spanga-tensta",
    "03": "hasselby-vallingby",
    "04": "bromma",
    "05": "kungsholmen",
    "06": "norrmalm",
    "07": "ostermalm",
    "08": "sodermalm",
    "09": "enskede-arsta-vantor",
    "10": "skarpnack",
    "11": "farsta",
    "12": "alvsjo",
    "13": "hagersten-liljeholmen",
    "14": "skarholmen",
    "16": "hagersten-alvsjo",
}


@cache
def pxweb_catalog(url: str) -> Catalog:
    """The bundled catalog with a v1 district table and a v2 city table mapped, served at `url`."""
    return load_catalog_text(pxweb_catalog_text(url))


def pxweb_catalog_text(url: str) -> str:
    """The YAML of `pxweb_catalog(url)`, for a worker that reads its catalog from a file."""
    doc = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    mappings: dict[str, Any] = {
        "forvarvsfrekvens-20-64": {
            "source": "scb",
            "api": "v1",
            "base_url": url + V1,
            "table": "AM/AM0207/Forvarvs14SDO",
            "gender": "Kon",
            "value": "Andel",
            "numerator": "Forvarvsarb",
            "denominator": "Befolkning",
            "areas": DISTRICTS,
            "genders": {"1+2": "T", "2": "K", "1": "M"},
            "fixed": {"Alder": "20-64"},
        },
        "medianinkomst": {
            "source": "scb",
            "api": "v2",
            "base_url": url + V2,
            "table": "TAB4552",
            "value": "HE0110K3",
            "areas": {"0180": "stockholm"},
            "scale": 1000,
        },
    }
    for ind in doc["indikatorer"]:
        if ind["id"] in mappings:
            ind["pxweb"] = mappings[ind["id"]]
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@pytest.fixture
def server() -> Iterator[PxWebServer]:
    with pxweb_server() as running:
        running.serve("GET", FOLDER, "v1-folder.json")
        running.serve("GET", TABLE, "v1-metadata.json")
        running.table("POST", TABLE, "v1-data.json")
        running.serve("GET", f"{INCOME}/metadata", "v2-metadata.json")
        running.table("GET", f"{INCOME}/data", "v2-data.json")
        yield running


def pull(
    server: PxWebServer, cursor: Any = None, since: date | None = None, cells: int = 100
) -> tuple[Pulled, FakeTime]:
    time = FakeTime()
    limits = PxWebLimits(cells=cells, requests=10, window_seconds=10.0)

    async def run() -> Pulled:
        hooks = {"request": [time.on_request]}
        async with httpx.AsyncClient(event_hooks=hooks) as client:
            connector = PxWebConnector(
                "scb", pxweb_catalog(server.url), client, limits, clock=time.clock, sleep=time.sleep
            )
            return await connector.pull(cursor, since)

    return asyncio.run(run()), time


def judged(rows: list[dict[str, object]], server: PxWebServer) -> list[dict[str, Any]]:
    """The rows as the ingest path accepts them; fails on any rejection."""
    scope = Scope.of(pxweb_catalog(server.url), "scb", datetime.now(UTC))
    judgement = validate_batch(rows, scope)
    assert judgement.errors == []
    return [v.fields for v in judgement.valid]


def by_series(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    return {(r["indicator"], r["area"], r["period"], r["gender"]): r for r in rows}


def test_a_full_pull_maps_both_tables_to_valid_rows(server: PxWebServer) -> None:
    pulled, time = pull(server)
    rows = by_series(judged(pulled.rows, server))
    # 15 regions × 3 genders × 3 years of the district table; two cells are `..` and `.`.
    district = [k for k in rows if k[0] == "forvarvsfrekvens-20-64"]
    assert len(district) == 15 * 3 * 3 - 2
    assert pulled.skipped == 2 + 1  # and the v2 table's `..` for 2022
    assert ("forvarvsfrekvens-20-64", "alvsjo", "2017", "K") not in rows
    assert ("forvarvsfrekvens-20-64", "norrmalm", "2018", "M") not in rows
    hl = rows[("forvarvsfrekvens-20-64", "hagersten-liljeholmen", "2019", "K")]
    women = 9000 + 400 * 13 + 120 * 2
    assert hl["denominator"] == women
    assert hl["numerator"] == round(women * (0.70 + 0.01 * (13 % 7) + 0.01))
    assert hl["value"] == pytest.approx(100 * hl["numerator"] / hl["denominator"], abs=0.01)
    assert hl["updated_at"] == "2021-11-15T07:00:00Z"
    assert {k[1] for k in district} == set(DISTRICTS.values()) - {"hagersten-alvsjo"}
    income = {k[2]: r["value"] for k, r in rows.items() if k[0] == "medianinkomst"}
    assert income == {"2019": 300_000.0, "2020": 307_500.0, "2021": 315_000.0}
    assert pulled.fetched == len(rows) + pulled.skipped
    # 405 cells in queries of at most 100: the regions are split into eight parts.
    posts = server.data_requests()
    district_posts = [s for s in posts if s.method == "POST"]
    assert len(district_posts) == 8
    for seen in district_posts:
        sizes = [len(q["selection"]["values"]) for q in seen.body["query"]]
        assert 1 <= sizes[0] <= 2  # Region comes first
        assert _product(sizes) <= 100
    metadata = [s for s in server.seen if s.path == f"{INCOME}/metadata"]
    assert dict(metadata[0].params) == {"lang": "sv", "outputFormat": "json-stat2"}
    v2 = [s for s in posts if s.method == "GET"]
    assert dict(v2[0].params)["valueCodes[Region]"] == "0180"
    assert "valueCodes[Hushallstyp]" not in dict(v2[0].params)  # eliminated: the total
    # No more than 10 requests started in any 10 seconds.
    assert len(time.starts) == 12
    assert all(sum(1 for t in time.starts if s <= t < s + 10.0) <= 10 for s in time.starts)


def test_a_repeated_pull_changes_nothing_and_an_unchanged_table_is_not_fetched(
    server: PxWebServer,
) -> None:
    first, _ = pull(server)
    again, _ = pull(server)
    assert sorted(r["observation_id"] for r in again.rows) == sorted(
        str(r["observation_id"]) for r in first.rows
    )
    before = len(server.data_requests())
    after_cursor, _ = pull(server, cursor=first.cursor)
    assert after_cursor.rows == []
    assert len(server.data_requests()) == before
    assert after_cursor.cursor == first.cursor


def test_a_revised_table_gives_new_versions_and_retracts_what_it_withdrew(
    server: PxWebServer,
) -> None:
    first, _ = pull(server)
    server.serve("GET", FOLDER, "v1-folder-revised.json")
    server.table("POST", TABLE, "v1-data-revised.json")
    second, _ = pull(server, cursor=first.cursor)
    rows = judged(second.rows, server)
    assert all(r["indicator"] == "forvarvsfrekvens-20-64" for r in rows)  # v2 unchanged
    old = {str(r["observation_id"]) for r in first.rows}
    changed = [r for r in rows if r["observation_id"] not in old]
    retracted = [r for r in changed if r["retract"]]
    revised = [r for r in changed if not r["retract"]]
    assert [(r["area"], r["period"], r["gender"]) for r in revised] == [
        ("rinkeby-kista", "2019", "T")
    ]
    assert [(r["area"], r["period"], r["gender"]) for r in retracted] == [
        ("kungsholmen", "2019", "K")
    ]
    assert retracted[0]["updated_at"] == "2022-03-01T07:00:00Z"
    third, _ = pull(server, cursor=second.cursor)
    assert third.rows == []


def test_since_fetches_the_tables_updated_since_then(server: PxWebServer) -> None:
    pulled, _ = pull(server, since=date(2023, 1, 1))
    assert {r["indicator"] for r in pulled.rows} == {"medianinkomst"}


def test_429_with_retry_after_and_a_500_are_retried(server: PxWebServer) -> None:
    server.fail("GET", f"{INCOME}/data", Fault(429, {"Retry-After": "7"}), Fault(503))
    pulled, time = pull(server)
    assert 7.0 in time.sleeps
    assert 4.0 in time.sleeps  # the second retry's backoff: 2 · 2¹
    assert any(r["indicator"] == "medianinkomst" for r in pulled.rows)


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (
            Fault(200, truncate=True, body=b'{"version": "2.0", "class": "dataset"}' * 40),
            "truncated",
        ),
        (Fault(200, body=b'{"version": "2.0", "class": "data'), "malformed"),
        (Fault(200, body=b'{"version": "2.0", "class": "dataset", "id": []}'), "malformed"),
        (Fault(400, body=b'{"error": "bad query"}'), "client_error"),
    ],
)
def test_a_broken_answer_fails_the_run_naming_the_url(
    server: PxWebServer, fault: Fault, kind: str
) -> None:
    server.fail("POST", TABLE, fault)
    with pytest.raises(ConnectorError) as caught:
        pull(server)
    assert caught.value.kind == kind
    assert caught.value.url == server.url + TABLE


def test_a_server_error_that_persists_fails_after_bounded_retries(server: PxWebServer) -> None:
    server.fail("GET", f"{INCOME}/metadata", *[Fault(500)] * 4)
    with pytest.raises(ConnectorError) as caught:
        pull(server)
    assert caught.value.kind == "server_error"
    assert caught.value.url == f"{server.url}{INCOME}/metadata"


def _product(sizes: list[int]) -> int:
    out = 1
    for size in sizes:
        out *= size
    return out
