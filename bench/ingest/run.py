"""Ingest benchmark: `.venv/bin/python -m bench.ingest.run [--seconds 30] [--clients 6]`.

Starts a local Kafka broker (unless STADSPULS_KAFKA_BOOTSTRAP is set), the ingest service as its own
process (`stadspuls serve ingest`: uvicorn, `--workers` worker processes on its port, default 1)
and concurrent HTTP clients posting
1 000-row JSON batches for several sources. Reports observations/s accepted *and acknowledged by
Kafka* (only 202 answers count), request p50/p99, and — in the same run, against the same broker
and topic configuration — the raw produce rate of the client libraries sending the same events
pre-serialised, so our rate can be read as a fraction of what the library alone achieves.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from bench.aggregate.worker import (
    busy_share,
    family_cpu_seconds,
    machine_jiffies,
    process_cpu_seconds,
)
from bench.ingest.raw import raw_rates
from bench.ingest.workload import SOURCES, batches
from services.ingest.keys import create_key
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.infra.kafka import LocalKafka
from shared.infra.ports import free_port
from shared.infra.wait import wait_for
from shared.settings import Settings
from shared.topics import ensure_topics


async def _client(
    url: str,
    bodies: list[tuple[str, bytes]],
    keys: dict[str, str],
    until: float,
    start: float,
    offset: int,
    out: dict[str, Any],
) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        n = offset
        while time.monotonic() < until:
            source, body = bodies[n % len(bodies)]
            n += 1
            sent = time.monotonic()
            answer = await http.post(
                url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {keys[source]}",
                },
            )
            done = time.monotonic()
            if sent < start:
                continue  # warm-up
            out["latencies"].append(done - sent)
            out["statuses"][answer.status_code] = out["statuses"].get(answer.status_code, 0) + 1
            if answer.status_code == 202:
                out["accepted"] += answer.json()["accepted"]


async def http_load(
    url: str,
    bodies: list[tuple[str, bytes]],
    keys: dict[str, str],
    clients: int,
    seconds: float,
    warmup: float,
    cpu_of: tuple[int, int],
) -> dict[str, Any]:
    """Post batches from `clients` concurrent clients; measure after `warmup` seconds.

    `cpu_of` is (server pid, load generator pid): their CPU-seconds over the measured window
    (the server's with its worker processes').
    """
    out: dict[str, Any] = {"latencies": [], "statuses": {}, "accepted": 0}
    start = time.monotonic() + warmup
    until = start + seconds

    async def measure() -> tuple[list[float], tuple[int, int]]:
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        server, generator = cpu_of
        return [family_cpu_seconds({server}), process_cpu_seconds(generator)], machine_jiffies()

    window, *_ = await asyncio.gather(
        measure(), *(_client(url, bodies, keys, until, start, i * 7, out) for i in range(clients))
    )
    elapsed = time.monotonic() - start
    (server0, client0), machine0 = window
    server_cpu = family_cpu_seconds({cpu_of[0]}) - server0
    lat = sorted(out["latencies"])
    return {
        "observations_per_s": out["accepted"] / elapsed,
        "observations_per_server_cpu_s": out["accepted"] / max(server_cpu, 1e-9),
        "server_cpu_share": server_cpu / elapsed,
        "load_generator_cpu_share": (process_cpu_seconds(cpu_of[1]) - client0) / elapsed,
        "machine_busy_share": busy_share(machine0, machine_jiffies()),
        "requests": len(lat),
        "statuses": out["statuses"],
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
    }


def main() -> None:
    """Run the benchmark and print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument(
        "--workers", type=int, default=1, help="STADSPULS_INGEST_WORKERS of the ingest service"
    )
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--raw-messages", type=int, default=200_000)
    parser.add_argument("--profile", help="write a cProfile of the ingest process to this file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stadspuls-bench-ingest-"))
    broker = None
    bootstrap = os.environ.get("STADSPULS_KAFKA_BOOTSTRAP")
    if not bootstrap:
        broker = LocalKafka(work / "kafka").start()
        bootstrap = broker.bootstrap
    port = free_port()
    settings = Settings(
        kafka_bootstrap=bootstrap,
        topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
        database_url=f"sqlite:///{work / 'ingest.db'}",
        ingest_port=port,
        key_secret=SecretStr(uuid.uuid4().hex),
        ingest_raw_validator=False,
    )
    server = None
    try:
        ensure_topics(settings)
        upgrade(settings.database_url)
        engine = make_engine(settings.database_url)
        keys = {s: create_key(engine, settings, s, "benchmark")[1] for s in SOURCES}
        catalog = default_catalog()
        bodies = [
            (s, orjson.dumps({"observations": b}))
            for s in SOURCES
            for b in batches(catalog, s, args.batch, 12)
        ]
        env = {
            **os.environ,
            **{
                f"STADSPULS_{k.upper()}": str(v)
                for k, v in {
                    "kafka_bootstrap": bootstrap,
                    "topic_prefix": settings.topic_prefix,
                    "database_url": settings.database_url,
                    "ingest_port": port,
                    "ingest_raw_validator": "false",
                    "ingest_workers": args.workers,
                }.items()
            },
            "STADSPULS_KEY_SECRET": settings.key_secret.get_secret_value(),
        }
        profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        server = subprocess.Popen(
            [sys.executable, *profile, "-m", "services.cli", "serve", "ingest"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(work / "ingest.log").open("wb"),
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200,
            timeout=60,
            ignore=(httpx.HTTPError,),
            what="the ingest service",
        )
        ours = asyncio.run(
            http_load(
                f"{base}/v1/observations",
                bodies,
                keys,
                args.clients,
                args.seconds,
                args.warmup,
                cpu_of=(server.pid, os.getpid()),
            )
        )
        server.send_signal(
            signal.SIGINT
        )  # uvicorn re-raises it after a clean shutdown; cProfile still writes
        server.wait(30)
        server = None
        raw = raw_rates(
            settings, [orjson.loads(body)["observations"] for _, body in bodies], args.raw_messages
        )
        best_raw = max(raw.values())
        summary = {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "kafka": "local single-node broker on the same machine" if broker else bootstrap,
            "batch_rows": args.batch,
            "clients": args.clients,
            "workers": args.workers,
            "sources": len(SOURCES),
            "seconds": args.seconds,
            "ingest": ours,
            "raw_messages_per_s": raw,
            "ratio_to_raw": {name: ours["observations_per_s"] / rate for name, rate in raw.items()},
            "ratio_to_best_raw": ours["observations_per_s"] / best_raw,
        }
        print(orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
    finally:
        if server is not None:
            server.kill()
        if broker is not None:
            broker.close()


if __name__ == "__main__":
    main()
