"""PxWeb over HTTP: paced requests, `429` and 5xx retried with bounded backoff, JSON or a clear error.

Any other 4xx, an unreadable or truncated body, or retries exhausted raise ConnectorError naming
the URL; the connector then publishes nothing of the run.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from services.ingest.connectors.base import ConnectorError
from services.ingest.connectors.pxweb.pacing import Clock, Pacer, PxWebLimits, Sleep

_RETRIED_TRANSPORT = (httpx.TimeoutException, httpx.ConnectError)


class PxWebHttp:
    """GET and POST JSON against PxWeb servers within their limits."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        limits: PxWebLimits,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.client, self.limits, self.sleep = client, limits, sleep
        self.pacer = Pacer(limits.requests, limits.window_seconds, clock, sleep)

    async def get(self, url: str, params: list[tuple[str, str]] | None = None) -> Any:
        """The JSON answer of a GET."""
        return await self._send("GET", url, params=params)

    async def post(self, url: str, body: object) -> Any:
        """The JSON answer of a POST of `body`."""
        return await self._send("POST", url, body=body)

    async def _send(
        self,
        method: str,
        url: str,
        params: list[tuple[str, str]] | None = None,
        body: object = None,
    ) -> Any:
        for attempt in range(self.limits.retries + 1):
            await self.pacer.wait()
            last = attempt == self.limits.retries
            try:
                response = await self.client.request(
                    method,
                    url,
                    params=tuple(params) if params else None,
                    content=None if body is None else orjson.dumps(body),
                    headers={"Content-Type": "application/json"} if body is not None else None,
                    timeout=self.limits.timeout_seconds,
                )
            except _RETRIED_TRANSPORT as exc:
                if last:
                    raise ConnectorError("unreachable", url, f"no answer: {exc!r}") from exc
                await self.sleep(self.limits.backoff(attempt, None))
                continue
            except httpx.TransportError as exc:
                raise ConnectorError("truncated", url, f"the answer broke off: {exc!r}") from exc
            status = response.status_code
            if status == 429 or status >= 500:
                if last:
                    kind = "rate_limited" if status == 429 else "server_error"
                    tries = self.limits.retries + 1
                    raise ConnectorError(kind, url, f"answered {status} {tries} times")
                await self.sleep(self.limits.backoff(attempt, retry_after(response)))
                continue
            if status >= 300:
                raise ConnectorError(
                    "client_error", url, f"answered {status}: {_excerpt(response)}"
                )
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                raise ConnectorError("malformed", url, f"the answer is not JSON ({exc})") from exc
        raise AssertionError("unreachable: the last attempt returns or raises")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks us to wait (`Retry-After` as seconds or an HTTP date), if it does."""
    given = response.headers.get("Retry-After")
    if given is None:
        return None
    if given.strip().isdigit():
        return float(given)
    try:
        when = parsedate_to_datetime(given)
    except (TypeError, ValueError):
        return None
    return (when - datetime.now(UTC)).total_seconds()


def _excerpt(response: httpx.Response) -> str:
    return response.text[:200].strip() or "(no body)"
