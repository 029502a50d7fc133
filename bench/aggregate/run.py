"""Aggregator benchmark: `.venv/bin/python -m bench.aggregate.run --events 100000 --db postgres`.

Starts its own Kafka broker (and, for `--db postgres`, its own PostgreSQL), preloads the canonical
topic with `--events` observations (`--workload random|sweeps`) and measures, with a real worker
process (`stadspuls serve aggregate`):

  throughput  events/s from the preloaded topic to the committed read model (the worker's event
              counter is bumped only after each batch's transaction commits);
  raw         the rate a plain AIOKafkaConsumer reads the same topic at, and our share of it;
  faust       the rate a faust worker configured like ours reads and parses it at, doing nothing
              else (`faust_ceiling.py`): the ceiling of any faust-based aggregator here;
  freshness   p50/p99 of received_at → commit while producing at a steady `--rate` (the worker's
              `stadspuls_aggregate_freshness_seconds` histogram, interpolated within buckets);
  rebuild     `stadspuls rebuild`, the batch job, from the command to the read model replaced and
              the group's offsets moved (its read and write parts), beside the raw consume rate;
  replay      `stadspuls rebuild --replay` plus a fresh worker replaying the whole topic until
              caught up (not run unless named).

`--verify` compares the read model with the reference oracle after throughput and after each
rebuild.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.aggregate.kafka_io import preload, produce_at_rate, raw_consume_rate
from bench.aggregate.worker import (
    BATCH,
    FRESHNESS,
    STATUS_LAG,
    Workers,
    busy_share,
    cpu_seconds,
    histogram,
    largest_bucket,
    machine_jiffies,
    quantile,
    wait_for_count,
    worker_env,
)
from bench.aggregate.workload import WORKLOADS, fresh, make_events
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation
from shared.infra.kafka import LocalKafka
from shared.infra.postgres import LocalPostgres
from shared.infra.wait import wait_for
from shared.settings import Settings
from shared.topics import ensure_topics
from tests.services import read_model_mismatches

PHASES = ("raw", "faust", "throughput", "freshness", "rebuild", "replay")
DEFAULT_PHASES = PHASES[:-1]


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.aggregate.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--events", type=int, default=50_000, help="events preloaded into the topic")
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--workload", choices=WORKLOADS, default="random")
    p.add_argument("--workers", type=int, default=1, help="aggregator workers (one group)")
    p.add_argument("--batch-size", type=int, default=Settings().aggregate_batch_size)
    p.add_argument("--batch-seconds", type=float, default=Settings().aggregate_batch_seconds)
    p.add_argument("--rate", type=float, default=1000.0, help="events/s during the freshness phase")
    p.add_argument("--freshness-seconds", type=float, default=30.0)
    p.add_argument("--warmup-seconds", type=float, default=5.0, help="at --rate, before measuring")
    p.add_argument("--phases", default=",".join(DEFAULT_PHASES), help=f"any of {','.join(PHASES)}")
    p.add_argument("--verify", action="store_true", help="compare the read model with the oracle")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1800.0, help="longest wait for one phase")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--keep", action="store_true", help="keep the broker data and worker logs")
    return p.parse_args(argv)


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _verify(
    settings: Settings, catalog: Catalog, events: list[Observation], out: dict[str, Any], after: str
) -> None:
    """Compare the read model with the oracle; the count goes to `mismatches_after_{after}`."""
    engine = make_engine(settings.database_url)
    try:
        problems = read_model_mismatches(engine, catalog, events)
    finally:
        engine.dispose()
    for line in problems[:5]:
        _say(f"  mismatch: {line}")
    out[f"mismatches_after_{after}"] = len(problems)
    _say(f"oracle mismatches after {after}: {len(problems)}")


def faust_ceiling(settings: Settings, expected: int, workdir: Path, timeout: float) -> float:
    """Events/s of `bench.aggregate.faust_ceiling` reading the whole topic."""
    out = workdir / "faust-ceiling.json"
    env = {
        **os.environ,
        **worker_env(settings),
        "BENCH_EXPECTED": str(expected),
        "BENCH_OUT": str(out),
    }
    with (workdir / "faust-ceiling.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.aggregate.faust_ceiling"], env=env, stdout=log, stderr=log
        )
    try:
        wait_for(out.exists, timeout=timeout, interval=0.2, what="the faust ceiling run")
    finally:
        proc.terminate()
        proc.wait(30)
    result = json.loads(out.read_text())
    return float(result["events"]) / float(result["seconds"])


def batch_rebuild(settings: Settings, out: dict[str, Any], workdir: Path) -> None:
    """Time `stadspuls rebuild --yes` (the batch job), the parts it reports and its peak memory."""
    env = {**os.environ, **worker_env(settings)}
    log = workdir / "rebuild.out"
    t0 = time.monotonic()
    with log.open("w") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "rebuild", "--yes"], env=env, stdout=stdout
        )
        _, status, usage = os.wait4(proc.pid, 0)  # the rusage of this child alone
    out["rebuild_s"] = time.monotonic() - t0
    printed = log.read_text()
    found = re.search(r"from (\d+) events .* read ([\d.]+)s, written ([\d.]+)s", printed)
    if os.waitstatus_to_exitcode(status) != 0 or found is None:
        raise RuntimeError(f"stadspuls rebuild failed: {printed}")
    out["rebuild_events"] = int(found[1])
    out["rebuild_read_s"], out["rebuild_write_s"] = float(found[2]), float(found[3])
    out["rebuild_per_s"] = out["rebuild_events"] / out["rebuild_s"]
    out["rebuild_peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    _say(
        f"rebuild of {out['rebuild_events']} events: {out['rebuild_s']:.1f}s from `stadspuls "
        f"rebuild` to done ({out['rebuild_per_s']:,.0f} events/s): read and computed in "
        f"{out['rebuild_read_s']:.1f}s, written in {out['rebuild_write_s']:.1f}s; peak memory "
        f"{out['rebuild_peak_rss_mb']:,.0f} MB; load average {os.getloadavg()[0]:.1f}"
    )


def run(args: argparse.Namespace, stack: ExitStack, workdir: Path, out: dict[str, Any]) -> None:
    """Set everything up in `workdir`, run the chosen phases, fill `out` with the figures."""
    phases = set(args.phases.split(","))
    catalog = default_catalog()
    kafka = stack.enter_context(LocalKafka(workdir / "kafka"))
    if args.db == "postgres":
        url = stack.enter_context(LocalPostgres()).create_database("bench")
    else:
        url = f"sqlite:///{workdir / 'read-model.db'}"
    settings = Settings(
        kafka_bootstrap=kafka.bootstrap,
        topic_prefix="bench.",
        database_url=url,
        aggregate_app_id="bench-aggregate",
        aggregate_batch_size=args.batch_size,
        aggregate_batch_seconds=args.batch_seconds,
    )
    ensure_topics(settings)
    upgrade(url)
    topic = settings.topic("observations.v1")

    started = time.perf_counter()
    events = make_events(catalog, args.workload, args.events, seed=args.seed)
    _say(f"made {len(events)} {args.workload} events in {time.perf_counter() - started:.1f}s")
    seconds = preload(kafka.bootstrap, topic, events)
    _say(f"preloaded them in {seconds:.1f}s ({len(events) / seconds:,.0f}/s)")
    sent: list[Observation] = list(events)

    if "raw" in phases:
        out["raw_consume_per_s"] = raw_consume_rate(kafka.bootstrap, topic, len(events))
        _say(f"raw aiokafka consumer: {out['raw_consume_per_s']:,.0f} messages/s")

    if "faust" in phases:
        out["faust_ceiling_per_s"] = faust_ceiling(settings, len(events), workdir, args.timeout)
        _say(f"faust worker that only parses: {out['faust_ceiling_per_s']:,.0f} events/s")

    worker = None
    if phases & {"throughput", "freshness"}:
        t0 = time.monotonic()
        worker = Workers.start(settings, args.workers, workdir)
        cpu0, machine0 = cpu_seconds(worker), machine_jiffies()  # start-up left out
        progress = wait_for_count(worker, len(events), t0, args.timeout, settings=settings)
        out["worker_cpu_s"] = cpu_seconds(worker) - cpu0
        out["machine_busy_share"] = busy_share(machine0, machine_jiffies())
        out["events_per_worker_cpu_s"] = len(events) / out["worker_cpu_s"]
        out["throughput_per_s"] = progress.steady_rate()
        out["throughput_wall_s"] = progress.wall_seconds()
        _say(
            f"throughput: {out['throughput_per_s']:,.0f} events/s steady, all {len(events)} "
            f"committed {progress.wall_seconds():.1f}s after the worker was started; "
            f"{out['events_per_worker_cpu_s']:,.0f} events per CPU-second of the worker; "
            f"the machine's CPUs were {out['machine_busy_share']:.0%} busy"
        )
        if "raw_consume_per_s" in out:
            out["share_of_raw"] = out["throughput_per_s"] / out["raw_consume_per_s"]
            _say(f"  = {out['share_of_raw']:.1%} of the raw consume rate")
        if args.verify:
            _verify(settings, catalog, sent, out, "throughput")

    if "freshness" in phases and worker is not None:
        n = int(args.rate * (args.warmup_seconds + args.freshness_seconds))
        extra = make_events(catalog, args.workload, n, seed=args.seed + 1)
        _say(
            f"producing {n} events at {args.rate:.0f}/s; measuring after {args.warmup_seconds:.0f}s"
        )
        with ThreadPoolExecutor(1) as pool:
            producing = pool.submit(
                produce_at_rate, kafka.bootstrap, topic, extra, args.rate, fresh
            )
            time.sleep(args.warmup_seconds)  # reach the steady state the target speaks of
            before = histogram(worker, FRESHNESS)
            batches_before = histogram(worker, BATCH)
            lag_before = histogram(worker, STATUS_LAG)
            sent += producing.result()
        wait_for_count(worker, len(sent), time.monotonic(), args.timeout, settings=settings)
        after = histogram(worker, FRESHNESS)
        batches_after = histogram(worker, BATCH)
        lag_after = histogram(worker, STATUS_LAG)
        # a status's wait for its series beyond the series' own freshness
        out["status_lag_p50_s"] = quantile(0.5, lag_before, lag_after)
        out["status_lag_p99_s"] = quantile(0.99, lag_before, lag_after)
        out["status_lag_max_le_s"] = largest_bucket(lag_before, lag_after)
        # what bounds freshness: how long a batch holds the writer (projections included)
        out["batch_p50_s"] = quantile(0.5, batches_before, batches_after)
        out["batch_p99_s"] = quantile(0.99, batches_before, batches_after)
        out["batches"] = batches_after.get(float("inf"), 0) - batches_before.get(float("inf"), 0)
        out["freshness_p50_s"] = quantile(0.5, before, after)
        out["freshness_p99_s"] = quantile(0.99, before, after)
        total = after.get(float("inf"), 0) - before.get(float("inf"), 0)
        out["freshness_observed"] = total
        out["freshness_share_over_1s"] = 1 - (after.get(1.0, 0) - before.get(1.0, 0)) / total
        # exact, not interpolated: a bucket ends at the 300 ms objective (p99 < 0.3 s iff ≥ 99 %)
        out["freshness_share_within_300ms"] = (after.get(0.3, 0) - before.get(0.3, 0)) / total
        _say(
            f"freshness at {args.rate:.0f}/s: p50 {out['freshness_p50_s']:.3f}s, "
            f"p99 {out['freshness_p99_s']:.3f}s, {out['freshness_share_within_300ms']:.2%} within"
            f" 0.3 s, {out['freshness_share_over_1s']:.2%} over 1 s "
            f"({total:.0f} applied); {out['batches']:.0f} batches, each holding the writer "
            f"p50 {out['batch_p50_s']:.3f}s, p99 {out['batch_p99_s']:.3f}s; a status waited for "
            f"its series p50 {out['status_lag_p50_s']:.3f}s, p99 {out['status_lag_p99_s']:.3f}s, "
            f"at most {out['status_lag_max_le_s']:g}s (bucket) beyond the series' freshness"
        )

    if "rebuild" in phases:
        if worker is not None:
            worker.stop()
            worker = None
        batch_rebuild(settings, out, workdir)
        if "raw_consume_per_s" not in out:
            out["raw_consume_per_s"] = raw_consume_rate(kafka.bootstrap, topic, len(sent))
        _say(
            f"  beside: raw aiokafka consumer {out['raw_consume_per_s']:,.0f} messages/s, "
            f"{len(sent) / out['raw_consume_per_s']:.1f}s to read the topic"
        )
        if args.verify:
            _verify(settings, catalog, sent, out, "rebuild")

    if "replay" in phases:
        if worker is not None:
            worker.stop()
        t0 = time.monotonic()
        env = {**os.environ, **worker_env(settings)}
        subprocess.run(
            [sys.executable, "-m", "services.cli", "rebuild", "--replay", "--yes"],
            env=env,
            check=True,
        )
        out["replay_command_s"] = time.monotonic() - t0
        worker = Workers.start(settings, args.workers, workdir / "replay")
        progress = wait_for_count(worker, len(sent), t0, args.timeout, settings=settings)
        out["replay_s"] = progress.wall_seconds()
        out["replay_events"] = len(sent)
        out["replay_per_s"] = progress.steady_rate()
        _say(
            f"replay of {len(sent)} events: {out['replay_s']:.1f}s from `stadspuls rebuild "
            f"--replay` to caught up ({out['replay_per_s']:,.0f} events/s)"
        )
        if args.verify:
            _verify(settings, catalog, sent, out, "replay")
    if worker is not None:
        worker.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and optionally save) its figures."""
    args = _args(argv)
    out: dict[str, Any] = {
        "events": args.events,
        "db": args.db,
        "workload": args.workload,
        "workers": args.workers,
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
    }
    workdir = Path(tempfile.mkdtemp(prefix="stadspuls-bench-aggregate-"))
    try:
        with ExitStack() as stack:
            run(args, stack, workdir, out)
    finally:
        if args.keep:
            print(f"broker data, database and worker logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    bad = any(out.get(f"mismatches_after_{p}", 0) for p in ("throughput", "rebuild", "replay"))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
