"""PxWeb queries: split within the cell limit, every cell asked for exactly once; v1 and v2 shapes."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.connectors.pxweb.fetch import retry_after
from services.ingest.connectors.pxweb.pacing import Pacer, PxWebLimits
from services.ingest.connectors.pxweb.query import Query, split
from tests.pxweb_server import FakeTime


def cells_of(query: Query) -> list[tuple[str, ...]]:
    return list(itertools.product(*(values for _, values in query.selection)))


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=4),
    limit=st.integers(min_value=1, max_value=500),
)
def test_split_covers_every_cell_once_within_the_limit(sizes: list[int], limit: int) -> None:
    selection = {f"v{n}": [f"c{k}" for k in range(size)] for n, size in enumerate(sizes)}
    queries = split(selection, limit)
    assert all(q.cells <= limit for q in queries)
    seen = Counter(cell for q in queries for cell in cells_of(q))
    assert set(seen.values()) == {1}
    assert len(seen) == len(list(itertools.product(*selection.values())))


def test_a_selection_within_the_limit_is_one_query() -> None:
    selection = {"Region": ["0180", "01"], "Tid": ["2019", "2020"]}
    assert split(selection, 4) == [Query((("Region", ("0180", "01")), ("Tid", ("2019", "2020"))))]


def test_the_widest_variable_is_split_first() -> None:
    selection = {"Region": [str(n) for n in range(10)], "Tid": ["2019", "2020"]}
    queries = split(selection, 10)
    assert [dict(q.selection)["Tid"] for q in queries] == [("2019", "2020")] * 2
    assert [len(dict(q.selection)["Region"]) for q in queries] == [5, 5]


def test_an_empty_selection_asks_for_nothing() -> None:
    assert split({"Region": [], "Tid": ["2019"]}, 10) == []
    with pytest.raises(ValueError, match="at least 1"):
        split({"Region": ["0180"]}, 0)


def test_v1_body_and_v2_parameters() -> None:
    query = Query((("Region", ("0180", "01")), ("Tid", ("2020",))))
    assert query.v1_body() == {
        "query": [
            {"code": "Region", "selection": {"filter": "item", "values": ["0180", "01"]}},
            {"code": "Tid", "selection": {"filter": "item", "values": ["2020"]}},
        ],
        "response": {"format": "json-stat2"},
    }
    assert query.v2_params() == [
        ("lang", "sv"),
        ("outputFormat", "json-stat2"),
        ("valueCodes[Region]", "0180,01"),
        ("valueCodes[Tid]", "2020"),
    ]


def test_the_pacer_starts_at_most_n_requests_in_any_window() -> None:
    time = FakeTime()
    pacer = Pacer(10, 10.0, time.clock, time.sleep)

    async def run() -> list[float]:
        starts = []
        for _ in range(25):
            await pacer.wait()
            starts.append(time.now)
            time.now += 0.1  # each request takes a little time
        return starts

    starts = asyncio.run(run())
    assert all(sum(1 for t in starts if s <= t < s + 10.0) <= 10 for s in starts)
    assert starts[9] < 1.0 <= 10.0 <= starts[10]  # the first ten at once, then it waits


def test_backoff_doubles_honours_retry_after_and_is_bounded() -> None:
    limits = PxWebLimits(backoff_seconds=2.0, max_wait_seconds=30.0)
    assert [limits.backoff(n, None) for n in range(5)] == [2.0, 4.0, 8.0, 16.0, 30.0]
    assert limits.backoff(0, 7.0) == 7.0
    assert limits.backoff(0, 3600.0) == 30.0
    assert limits.backoff(0, -5.0) == 0.0


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after(httpx.Response(429, headers={"Retry-After": "12"})) == 12.0
    assert retry_after(httpx.Response(429)) is None
    past = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert (retry_after(past) or 0) < 0
    assert retry_after(httpx.Response(503, headers={"Retry-After": "soon"})) is None
