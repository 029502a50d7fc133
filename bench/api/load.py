"""A closed-loop HTTP load generator: N concurrent clients with keep-alive, each sending the next
request as soon as the previous answer is read. Reports requests/s and latency percentiles.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class Result:
    """What one scenario measured."""

    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...]
    bytes_per_answer: int

    @property
    def rate(self) -> float:
        """Answered requests per second."""
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in milliseconds (nearest rank)."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))
        return ordered[rank]

    def row(self) -> str:
        """One Markdown table row."""
        return (
            f"| {self.name} | {self.rate:,.0f} | {self.percentile(50):.1f} | "
            f"{self.percentile(90):.1f} | {self.percentile(99):.1f} | {max(self.latencies_ms):.1f} | "
            f"{self.bytes_per_answer:,} | {self.errors} |"
        )


HEADER = (
    "| scenario | requests/s | p50 ms | p90 ms | p99 ms | max ms | bytes/answer | errors |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|"
)


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    headers: Mapping[str, str],
    expect: int,
    stop_at: float,
    record_from: float,
    latencies: list[float],
    counts: dict[str, int],
) -> None:
    while (now := time.perf_counter()) < stop_at:
        async with session.get(url, headers=headers) as response:
            body = await response.read()
            ok = response.status == expect
        done = time.perf_counter()
        if now >= record_from:
            latencies.append((done - now) * 1000)
            counts["requests"] += 1
            counts["errors"] += 0 if ok else 1
            counts["bytes"] = len(body)


async def _run(
    name: str, url: str, clients: int, seconds: float, warmup: float,
    headers: Mapping[str, str], expect: int,
) -> Result:  # fmt: skip
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0, "bytes": 0}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        record_from, stop_at = start + warmup, start + warmup + seconds
        await asyncio.gather(
            *(
                _client(session, url, headers, expect, stop_at, record_from, latencies, counts)
                for _ in range(clients)
            )
        )
        measured = time.perf_counter() - record_from
    return Result(
        name, counts["requests"], counts["errors"], measured, tuple(latencies), counts["bytes"]
    )


def run(
    name: str,
    url: str,
    *,
    clients: int = 50,
    seconds: float = 10.0,
    warmup: float = 2.0,
    headers: Mapping[str, str] | None = None,
    expect: int = 200,
) -> Result:
    """Run one scenario: `clients` concurrent keep-alive clients for `seconds` after a warm-up."""
    return asyncio.run(_run(name, url, clients, seconds, warmup, headers or {}, expect))
