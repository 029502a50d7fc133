"""The aggregator under test: a real `stadspuls serve aggregate` process, watched from outside."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.aggregate.lag import OffsetReader
from shared.settings import Settings
from tests.aggregator import env_of as worker_env
from tests.services import ServiceProcess

EVENTS = "stadspuls_aggregate_events_total"
FRESHNESS = "stadspuls_aggregate_freshness_seconds"
STATUS_LAG = "stadspuls_aggregate_status_lag_seconds"
BATCH = "stadspuls_aggregate_batch_seconds"


@dataclass
class Workers:
    """Aggregator workers of one consumer group, each `stadspuls serve aggregate` with a writer."""

    members: list[ServiceProcess]

    @classmethod
    def start(cls, settings: Settings, n: int, logs: Path) -> Workers:
        """Start `n` workers (each with a folder of its own for faust's files), wait for /healthz."""
        members = []
        for i in range(n):
            data = logs / f"faust-{i}"
            data.mkdir(parents=True, exist_ok=True)
            env = {**worker_env(settings), "STADSPULS_AGGREGATE_DATA_DIR": str(data)}
            members.append(ServiceProcess("aggregate", env, logs / f"worker-{i}.log").start())
        return cls(members)

    def count(self) -> float:
        """Events all of them have counted (each bumps its counter after a batch commits)."""
        return sum(w.metric(EVENTS) for w in self.members)

    def check_alive(self) -> None:
        """Raise if a worker has exited."""
        for w in self.members:
            if w.proc is not None and w.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {w.log_tail()}")

    def stop(self) -> None:
        """Stop them all."""
        for w in self.members:
            w.stop()


@dataclass
class Progress:
    """(seconds since start, events counted) samples of one worker while it works through a load."""

    started: float
    samples: list[tuple[float, float]] = field(default_factory=list)

    def steady_rate(self) -> float:
        """Events/s from the first counted batch to the last: start-up and group join left out."""
        first = next((s for s in self.samples if s[1] > 0), None)
        last = self.samples[-1]
        if first is None or last[0] <= first[0]:
            return math.nan
        return (last[1] - first[1]) / (last[0] - first[0])

    def wall_seconds(self) -> float:
        """Seconds from starting the worker to the last event applied."""
        return self.samples[-1][0]


def wait_for_count(
    workers: Workers,
    expected: int,
    started: float,
    timeout: float,
    interval: float = 0.25,
    settings: Settings | None = None,
) -> Progress:
    """Poll the workers' event counters until they reach `expected` (every event committed).

    With several workers a rebalance hands partitions over and events are applied again (as
    duplicates), so the counters can reach `expected` early: then the group's consumer lag must
    also be zero (faust commits an offset only after its batch's transaction).
    """
    progress = Progress(started)
    deadline = time.monotonic() + timeout
    while True:
        try:
            count = workers.count()
        except httpx.HTTPError:
            count = 0.0  # the web server answers before the app; try again
        progress.samples.append((time.monotonic() - started, count))
        if count >= expected and (len(workers.members) == 1 or _caught_up(settings)):
            return progress
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker counted {count:.0f} of {expected} events in {timeout:.0f}s")
        workers.check_alive()
        time.sleep(interval)


def _caught_up(settings: Settings | None) -> bool:
    assert settings is not None, "several workers: pass settings to check the consumer lag"
    reader = OffsetReader(settings, settings.topic("observations.v1"))
    try:
        return not any(reader.read().lag().values())
    finally:
        reader.close()


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU time that was busy between two `machine_jiffies`."""
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(workers: Workers) -> float:
    """CPU time (user + system) the worker processes and their children (writers) have used."""
    return family_cpu_seconds({w.proc.pid for w in workers.members if w.proc is not None})


def family_cpu_seconds(parents: set[int]) -> float:
    """CPU time (user + system) processes `parents` and their children have used so far."""
    pids = list(parents)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) in parents:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue  # a process that ended while we looked
    total = 0.0
    for pid in pids:
        try:
            total += process_cpu_seconds(pid)
        except OSError:
            continue
    return total


def histogram(workers: Workers, name: str) -> dict[float, float]:
    """Cumulative bucket counts {upper bound: count} of a histogram, summed over the workers."""
    buckets: dict[float, float] = {}
    for worker in workers.members:
        text = httpx.get(f"{worker.url}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            if family.name != name:
                continue
            for sample in family.samples:
                if sample.name == f"{name}_bucket":
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """The q-quantile of the observations made between two snapshots (Prometheus-style)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return math.nan
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the last finite bucket: report its bound
            width = count - lower_count
            share = (rank - lower_count) / width if width else 1.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return math.nan


def largest_bucket(before: dict[float, float], after: dict[float, float]) -> float:
    """The upper bound of the highest bucket that gained observations between two snapshots."""
    gained = [b for b in sorted(after) if after[b] - before.get(b, 0.0) > 0]
    if not gained:
        return math.nan
    # cumulative buckets: the first bound that holds every new observation
    total = after[gained[-1]] - before.get(gained[-1], 0.0)
    return next(b for b in gained if after[b] - before.get(b, 0.0) >= total)
