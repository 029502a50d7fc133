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
    """What one scenario measured: answered requests per second and latency percentiles (ms)."""

    name: str
    requests: int
    errors: int
    rate: float
    p50: float
    p90: float
    p99: float
    max: float | None = None
    bytes_per_answer: int = 0

    def row(self) -> str:
        """One Markdown table row."""
        top = "–" if self.max is None else f"{self.max:.1f}"
        return (
            f"| {self.name} | {self.rate:,.0f} | {self.p50:.1f} | {self.p90:.1f} | {self.p99:.1f} "
            f"| {top} | {self.bytes_per_answer:,} | {self.errors} |"
        )


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile of samples (nearest rank)."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


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
    name: str,
    url: str,
    clients: int,
    seconds: float,
    warmup: float,
    headers: Mapping[str, str],
    expect: int,
) -> Result:
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
        name,
        counts["requests"],
        counts["errors"],
        counts["requests"] / measured,
        percentile(latencies, 50),
        percentile(latencies, 90),
        percentile(latencies, 99),
        max(latencies, default=float("nan")),
        counts["bytes"],
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
