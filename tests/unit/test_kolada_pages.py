"""The Kolada connector's paging on an httpx MockTransport: to the end, never off the source,
never in a loop, an item asked for twice mapped once, school data from /oudata."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.ingest.connectors.base import ConnectorError, Pulled
from services.ingest.connectors.http import RetryPolicy
from services.ingest.connectors.kolada.connector import KoladaConnector
from shared.catalog.loader import default_catalog
from shared.domain.catalog import Catalog, Indikator

BASE = "http://kolada.test/v3"
CATALOG = default_catalog()
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def with_mappings(**updates: dict[str, Any]) -> Catalog:
    """The bundled catalog with some indicators' `kolada:` changed."""
    changed: list[Indikator] = []
    for ind in CATALOG.indikatorer:
        if ind.id in updates and ind.kolada is not None:
            ind = ind.model_copy(update={"kolada": ind.kolada.model_copy(update=updates[ind.id])})
        changed.append(ind)
    fields = {name: getattr(CATALOG, name) for name in Catalog.model_fields}
    return Catalog.model_validate({**fields, "indikatorer": tuple(changed)})


def item(
    kpi: str, where: str = "0180", period: int = 2024, field: str = "municipality"
) -> dict[str, Any]:
    return {
        "kpi": kpi,
        field: where,
        "period": period,
        "values": [{"gender": "T", "count": 1, "value": 50.0}],
    }


def pull(catalog: Catalog, pages: dict[str, dict[str, Any]]) -> tuple[Pulled, list[str]]:
    """Pull with answers by path (the first page) or by full URL (next pages)."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        asked.append(url)
        body = pages.get(url) or pages.get(url.split("?")[0]) or {"values": [], "count": 0}
        return httpx.Response(200, json=body)

    async def go() -> Pulled:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
            connector = KoladaConnector(
                catalog, "kolada", BASE, client, RetryPolicy(0), lambda: NOW
            )
            return await connector.pull(None, None)

    return asyncio.run(go()), asked


def test_pages_are_followed_to_the_end_and_an_item_asked_twice_is_mapped_once() -> None:
    # N15436 also for 0181 (Södertälje, mapped to the city for the test): a second request
    catalog = with_mappings(
        **{"behorighet-gymnasiet-ak9": {"areas": {"0180": "stockholm", "0181": "stockholm"}}}
    )
    first = f"{BASE}/data/kpi/N00999,N01984,N02797,N07609,N15505/municipality/0180/year/2015,2016,2017,2018,2019,2020,2021,2022,2023,2024,2025"
    second = f"{BASE}/data/kpi/N15436/municipality/0180,0181/year/2015,2016,2017,2018,2019,2020,2021,2022,2023,2024,2025"
    page2 = f"{BASE}/data/kpi/N15436/municipality/0180,0181?page=2"
    pages = {
        first: {"values": [item("N00999")], "count": 1, "next_url": None},
        second: {"values": [item("N15436")], "count": 1, "next_url": page2},
        page2: {
            "values": [item("N15436"), item("N15436", period=2023)],
            "count": 2,
            "next_url": "",
        },
    }
    pulled, asked = pull(catalog, pages)
    assert [u.split("?")[0] for u in asked] == [first, second, page2.split("?")[0]]
    assert pulled.fetched == 4
    assert sorted((r["indicator"], r["period"]) for r in pulled.rows) == [
        ("behorighet-gymnasiet-ak9", "2023"),
        ("behorighet-gymnasiet-ak9", "2024"),
        ("nystartade-foretag", "2024"),
    ]


@pytest.mark.parametrize(
    ("next_url", "message"),
    [("http://elsewhere.test/v3/data?page=2", "next_url leaves"), ("SELF", "leads back")],
)
def test_a_next_url_off_the_source_or_in_a_loop_fails_the_run(next_url: str, message: str) -> None:
    start = f"{BASE}/data/kpi/N00999,N01984,N02797,N07609,N15436,N15505/municipality/0180/year/2015,2016,2017,2018,2019,2020,2021,2022,2023,2024,2025"
    url = f"{start}?per_page=5000" if next_url == "SELF" else next_url
    pages = {start: {"values": [], "count": 0, "next_url": url}}
    with pytest.raises(ConnectorError, match=message) as caught:
        pull(CATALOG, pages)
    assert caught.value.kind == "malformed_body"


def test_school_units_are_asked_for_at_oudata() -> None:
    catalog = with_mappings(**{"meritvarde-ak9": {"ou": True, "areas": {"V15E0180001": "rinkeby"}}})
    start = f"{BASE}/oudata/kpi/N15505/ou/V15E0180001/year/2015,2016,2017,2018,2019,2020,2021,2022,2023,2024,2025"
    pages = {start: {"values": [item("N15505", "V15E0180001", field="ou")], "count": 1}}
    pulled, asked = pull(catalog, pages)
    assert start in [u.split("?")[0] for u in asked]
    assert [(r["indicator"], r["area"]) for r in pulled.rows] == [("meritvarde-ak9", "rinkeby")]


def test_a_page_that_is_not_kolada_s_shape_fails_naming_the_field() -> None:
    start = f"{BASE}/data/kpi/N00999,N01984,N02797,N07609,N15436,N15505/municipality/0180/year/2015,2016,2017,2018,2019,2020,2021,2022,2023,2024,2025"
    pages = {
        start: {
            "values": [
                {"kpi": "N00999", "municipality": "0180", "period": "last year", "values": []}
            ],
            "count": 1,
        }
    }
    with pytest.raises(ConnectorError, match=r"values\.0\.period") as caught:
        pull(CATALOG, pages)
    assert caught.value.url.startswith(start)
