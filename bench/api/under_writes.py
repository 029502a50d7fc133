"""Reads under writes: `.venv/bin/python -m bench.api.under_writes [--rate 1000] [--seconds 10]`.

Fills a read model (SQLite, or `--db postgres`) with the Stockholm data set (`bench.api.dataset`),
serves it with uvicorn (`bench.api.run.serve`, 127.0.0.1) and runs `--readers` closed-loop clients
that cycle the status endpoints (etappmål per area and gender, area profiles per gender, one
etappmål, one nämnd): first on quiet data, then while a writer process applies revised
observations at `--rate` per second through the aggregator's own writer path (its store and
projector, as `services.aggregate.writer` runs them: batches of what 0.1 s brings, up to 1 000
when behind; city statuses at most every second, other areas' every 5 s). The revisions are
spread over every indicator, area and period of three years: the worst case for what a commit
changes. Prints answers/s and p99 of both phases, their ratios against the targets
(loaded p99 ≤ 3× quiet, loaded answers/s ≥ 50 % of quiet) and the write rate actually applied.
Every phase is bounded by `--seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from bench.api.dataset import Dataset
from bench.api.load import percentile
from bench.api.run import prepare, serve
from shared.catalog.loader import default_catalog
from shared.infra.postgres import LocalPostgres

AREAS = ("stockholm", "rinkeby-kista", "sodermalm", "ytterstaden", "bromma", "farsta")
GENDERS = ("T", "K", "M")
BATCH_SECONDS = 0.1  # the aggregator's batch window (aggregate_batch_seconds)
BATCH_SIZE = 1000  # and the most events of a batch (aggregate_batch_size)
PROJECTION_SECONDS = 1.0  # and the longest a city status lags under a steady load


def reader_paths() -> list[str]:
    """The URLs the readers cycle."""
    paths = [f"/v1/etappmal?area={a}&gender={g}" for a in AREAS for g in GENDERS]
    paths += [f"/v1/omraden/{a}?gender={g}" for a in AREAS for g in GENDERS]
    return [*paths, "/v1/etappmal/behorighet-gymnasiet", "/v1/namnder/rinkeby-kista-sdn"]


@dataclass(frozen=True)
class Phase:
    """What the readers measured in one phase."""

    name: str
    answers: int
    errors: int
    rate: float
    p50: float
    p99: float


async def _reader(
    session: aiohttp.ClientSession,
    base: str,
    paths: list[str],
    start: int,
    stop_at: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    i = start
    while (began := time.perf_counter()) < stop_at:
        async with session.get(base + paths[i % len(paths)]) as response:
            await response.read()
            if response.status != 200:
                errors.append(response.status)
        latencies.append((time.perf_counter() - began) * 1000)
        i += 1


async def _read(base: str, readers: int, seconds: float) -> tuple[list[float], list[int], float]:
    paths = reader_paths()
    latencies: list[float] = []
    errors: list[int] = []
    connector = aiohttp.TCPConnector(limit=readers)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(
            *(
                _reader(session, base, paths, n * 7, stop_at, latencies, errors)
                for n in range(readers)
            )
        )
        return latencies, errors, time.perf_counter() - started


def measure(name: str, base: str, readers: int, seconds: float) -> Phase:
    """Run the readers for `seconds` and summarise."""
    latencies, errors, took = asyncio.run(_read(base, readers, seconds))
    return Phase(
        name,
        len(latencies),
        len(errors),
        len(latencies) / took,
        percentile(latencies, 50),
        percentile(latencies, 99),
    )


def write(
    url: str, rate: float, seconds: float, applied: Synchronized[float], ready: Any, go: Any
) -> None:
    """The writer process: revised observations at `rate`/s through the aggregator's writer path."""
    from shared.db.engine import make_engine
    from shared.domain.observation import utcnow
    from shared.readmodel.projections import AREA_INTERVAL, Projector
    from shared.readmodel.store import SeriesStore

    catalog = default_catalog()
    revised = list(Dataset(catalog, years=range(2023, 2026), seed=11).observations())
    random.Random(3).shuffle(revised)
    engine = make_engine(url)
    store = SeriesStore(engine, catalog)
    projector = Projector(catalog, interval=PROJECTION_SECONDS, area_interval=AREA_INTERVAL)
    ready.set()
    go.wait()
    started = time.monotonic()
    stop_at, sent = started + seconds, 0
    while (moment := time.monotonic()) < stop_at:
        # what a batch window holds, or, behind, what is due (as the aggregator's take_events)
        due = round((moment - started + BATCH_SECONDS) * rate) - sent
        size = max(1, min(BATCH_SIZE, due))
        now = utcnow()
        batch = [
            revised[(sent + k) % len(revised)].model_copy(
                update={"received_at": now, "updated_at": now}
            )
            for k in range(size)
        ]
        result = store.apply(batch, projector)
        projector.done(result.projected)
        sent += size
        applied.value = sent / (time.monotonic() - started)  # the rate applied so far
        ahead = started + sent / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    engine.dispose()


def _row(phase: Phase) -> str:
    return (
        f"| {phase.name} | {phase.rate:,.0f} | {phase.p50:.1f} | {phase.p99:.1f} | {phase.errors} |"
    )


def main() -> None:
    """Parse arguments, prepare, run the quiet and the loaded phase, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database-url", help="an existing read model to use instead")
    parser.add_argument("--readers", type=int, default=8, help="concurrent readers")
    parser.add_argument("--rate", type=float, default=1000, help="observations written per s")
    parser.add_argument("--seconds", type=float, default=10, help="duration of each phase")
    parser.add_argument("--years", type=int, default=7, help="years of the data set to load")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-under-writes-"))
    with ExitStack() as stack:
        url = args.database_url or f"sqlite:///{folder / 'read-model.db'}"
        if args.db == "postgres" and not args.database_url:
            url = stack.enter_context(LocalPostgres()).create_database("bench_under_writes")
        prepare(url, range(2026 - args.years, 2026))
        process, base = serve(url, 1, True, folder / "server.log")
        stack.callback(process.wait, 20)
        stack.callback(process.terminate)
        measure("warm-up", base, args.readers, min(2.0, args.seconds))
        renders = [_renders(base)]
        quiet = measure("quiet", base, args.readers, args.seconds)
        renders.append(_renders(base))
        spawn = multiprocessing.get_context("spawn")
        applied = spawn.Value("d", 0.0)
        ready, go = spawn.Event(), spawn.Event()
        writer = spawn.Process(
            target=write, args=(url, args.rate, args.seconds, applied, ready, go)
        )
        writer.start()
        if not ready.wait(120):
            writer.terminate()
            raise SystemExit("the writer did not start within 120 s")
        go.set()
        loaded = measure("while writing", base, args.readers, args.seconds)
        renders.append(_renders(base))
        writer.join(60)
        if writer.is_alive():
            writer.terminate()
        written = applied.value
        print(
            f"\nread model {make_url(url).get_backend_name()}, {args.readers} readers cycling "
            f"{len(reader_paths())} status URLs, {args.seconds:.0f} s per phase\n"
        )
        print("| phase | answers/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|")
        print(_row(quiet))
        print(_row(loaded))
        p99_ratio = loaded.p99 / quiet.p99 if quiet.p99 else float("inf")
        rate_ratio = loaded.rate / quiet.rate if quiet.rate else 0.0
        print(
            f"\nwrites applied: {written:,.0f} observations/s (asked {args.rate:,.0f})\n"
            f"loaded p99 / quiet p99: {p99_ratio:.2f} (target ≤ 3)\n"
            f"loaded answers/s / quiet: {rate_ratio:.0%} (target ≥ 50 %)\n"
            f"answers rendered (not the memo's): quiet {renders[1].total() - renders[0].total():,.0f},"
            f" while writing {renders[2].total() - renders[1].total():,.0f}"
            f" ({(renders[2].total() - renders[1].total()) / args.seconds:,.0f}/s: "
            + ", ".join(f"{r} {n:,.0f}" for r, n in (renders[2] - renders[1]).most_common())
            + ")"
        )


def _renders(base: str) -> Counter[str]:
    """Answers the API has rendered so far, by route (`stadspuls_api_renders_total`)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "stadspuls_api_renders_total":
                found[sample.labels["route"]] += sample.value
    return found


if __name__ == "__main__":
    main()
