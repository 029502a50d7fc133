"""A connector's HTTP (httpx MockTransport): what is retried, how long it waits, what fails the run."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.ingest.connectors.base import ConnectorError
from services.ingest.connectors.http import MAX_WAIT, RetryPolicy, get_json

URL = "http://kolada.test/v3/data/kpi/N15436/municipality/0180"


def fetch(answers: list[httpx.Response], retries: int = 3) -> tuple[object, list[float], int]:
    """get_json against answers given in turn; what it returned, the waits, the requests made."""
    waits: list[float] = []
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return answers.pop(0)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def go() -> object:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
            return await get_json(client, URL, RetryPolicy(retries, 2.0, sleep))

    return asyncio.run(go()), waits, calls


def test_429_honours_retry_after_and_5xx_backs_off_2_4_8() -> None:
    body = {"values": [], "count": 0}
    answers = [
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(503),
        httpx.Response(500),
        httpx.Response(200, json=body),
    ]
    result, waits, calls = fetch(answers)
    assert result == body
    assert waits == [7.0, 4.0, 8.0]
    assert calls == 4
    _, waits, _ = fetch(
        [httpx.Response(429, headers={"Retry-After": "86400"}), httpx.Response(200, json=body)]
    )
    assert waits == [MAX_WAIT]


def test_retries_are_bounded_and_the_error_names_the_url() -> None:
    with pytest.raises(ConnectorError) as caught:
        fetch([httpx.Response(500) for _ in range(3)], retries=2)
    assert caught.value.kind == "server_error"
    assert caught.value.url == URL
    assert "500 after 2 retries" in str(caught.value)


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (httpx.Response(404, text="no such kpi"), "client_error"),
        (httpx.Response(400), "client_error"),
        (httpx.Response(200, content=b'{"values": [{"kpi": "N1'), "malformed_body"),
        (httpx.Response(200, content=b"<html>maintenance</html>"), "malformed_body"),
    ],
)
def test_any_other_4xx_or_an_unreadable_body_fails_at_once(
    answer: httpx.Response, kind: str
) -> None:
    with pytest.raises(ConnectorError) as caught:
        fetch([answer, httpx.Response(200, json={})])
    assert (caught.value.kind, caught.value.url) == (kind, URL)
