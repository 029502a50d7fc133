"""A connector's HTTP: JSON over httpx, `429`/`5xx`/network errors retried with bounded backoff.

`Retry-After` (seconds or an HTTP date) wins over the backoff, capped at `MAX_WAIT`; any other `4xx`,
a body that is not JSON, or the last failed retry raises `ConnectorError` naming the URL. The
client is a port: tests hand in one bound to a local server (or an `httpx.MockTransport`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from services.ingest.connectors.base import ConnectorError

#: The longest wait before one retry, whatever Retry-After asks.
MAX_WAIT = 60.0
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before giving up on a source."""

    retries: int = 3
    backoff: float = 2.0
    sleep: Sleep = asyncio.sleep

    def wait(self, attempt: int, retry_after: str | None) -> float:
        """Seconds before retry `attempt` (0-based): Retry-After if given, else backoff·2^attempt."""
        asked = _retry_after(retry_after)
        return min(MAX_WAIT, asked if asked is not None else self.backoff * 2**attempt)


def _retry_after(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    policy: RetryPolicy,
    *,
    params: dict[str, str] | None = None,
    method: str = "GET",
    body: Any = None,
) -> Any:
    """The JSON answer of `url`, retried as the policy says; raise ConnectorError otherwise."""
    shown = str(httpx.URL(url, params=params)) if params else url
    for attempt in range(policy.retries + 1):
        last = attempt == policy.retries
        try:
            answer = await client.request(method, url, params=params, json=body)
        except httpx.HTTPError as exc:
            if last:
                raise ConnectorError("unreachable", shown, f"{type(exc).__name__}: {exc}") from exc
            await policy.sleep(policy.wait(attempt, None))
            continue
        status = answer.status_code
        if status == 429 or status >= 500:
            if last:
                kind = "rate_limited" if status == 429 else "server_error"
                raise ConnectorError(kind, shown, f"answered {status} after {attempt} retries")
            await policy.sleep(policy.wait(attempt, answer.headers.get("retry-after")))
            continue
        if status >= 400:
            raise ConnectorError("client_error", shown, f"answered {status}: {answer.text[:200]}")
        try:
            return orjson.loads(answer.content)
        except orjson.JSONDecodeError as exc:
            message = f"the body is not complete JSON ({len(answer.content)} bytes): {exc}"
            raise ConnectorError("malformed_body", shown, message) from None
    raise AssertionError("unreachable")  # the loop returns or raises
