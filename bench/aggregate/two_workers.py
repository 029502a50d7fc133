"""One worker against two in one group: `.venv/bin/python -m bench.aggregate.two_workers`.

Starts its own Kafka broker and PostgreSQL server and runs three times on the same `--events`
(`--workload sweeps` by default), each on a topic prefix, consumer group and database of its own:

  one   one worker; events/s topic → committed read model, CPU, and what the load takes on disk
        (bytes per event on the topic, bytes per row of each read-model table);
  two   two workers in one group: the partitions each owns (from the group's description),
        events/s together and each worker's share;
  kill  two workers; one is killed with SIGKILL once it has applied a quarter of its share; how
        long until the other owns every partition, and the end state.

The workers join first and the load is produced after (no worker starts with the topic to itself).
Every run ends with the read model compared with the oracle and `series_versions` with the topic:
every delivery recorded exactly once (`lost` / `double` 0).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.aggregate.kafka_io import preload, raw_consume_rate
from bench.aggregate.sizes import table_sizes, topic_bytes, wal_bytes_since, wal_position
from bench.aggregate.worker import (
    EVENTS,
    Workers,
    busy_share,
    cpu_seconds,
    machine_jiffies,
    wait_for_count,
)
from bench.aggregate.workload import WORKLOADS, make_events
from services.aggregate.lag import OffsetReader
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation
from shared.infra.kafka import LocalKafka
from shared.infra.postgres import LocalPostgres
from shared.infra.wait import wait_for
from shared.settings import Settings
from shared.topics import ensure_topics
from tests.group import assignment, delivery_problems
from tests.services import ServiceProcess, read_model_mismatches


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _group(settings: Settings, members: list[ServiceProcess], timeout: float) -> dict[int, Any]:
    """Wait for a stable group of exactly these workers; {port: sorted partitions}."""
    owned: dict[int, frozenset[int]] = {}

    def stable() -> bool:
        nonlocal owned
        owned = assignment(settings)
        return set(owned) == {m.port for m in members}

    wait_for(stable, timeout=timeout, interval=0.5, what=f"a stable group of {len(members)}")
    return {port: sorted(parts) for port, parts in owned.items()}


def _lag(settings: Settings, partitions: set[int] | None = None) -> int:
    reader = OffsetReader(settings, settings.topic("observations.v1"))
    try:
        lags = reader.read().lag()
    finally:
        reader.close()
    return sum(n for (_, p), n in lags.items() if partitions is None or p in partitions)


def _end_state(settings: Settings, catalog: Catalog, events: list[Observation]) -> dict[str, Any]:
    engine = make_engine(settings.database_url)
    try:
        wrong = read_model_mismatches(engine, catalog, events)
        deliveries = delivery_problems(engine, settings, events)
    finally:
        engine.dispose()
    for line in (wrong + deliveries)[:5]:
        _say(f"  problem: {line}")
    return {"oracle_mismatches": len(wrong), "delivery_problems": deliveries}


def _settings(kafka: LocalKafka, pg: LocalPostgres, name: str) -> Settings:
    s = Settings(
        kafka_bootstrap=kafka.bootstrap,
        topic_prefix=f"{name}.",
        database_url=pg.create_database(name),
        aggregate_app_id=f"bench-{name}",
    )
    ensure_topics(s)
    upgrade(s.database_url)
    return s


def throughput(
    s: Settings, catalog: Catalog, events: list[Observation], n: int, logs: Path, timeout: float
) -> dict[str, Any]:
    """`n` workers join, then the load is produced; rate, CPU, partitions and end state."""
    workers = Workers.start(s, n, logs)
    try:
        owned = _group(s, workers.members, timeout=90)
        t0 = time.monotonic()
        cpu0, machine0 = cpu_seconds(workers), machine_jiffies()
        wal = wal_position(s.database_url)
        preload(s.kafka_bootstrap or "", s.topic("observations.v1"), events)
        progress = wait_for_count(workers, len(events), t0, timeout, settings=s)
        cpu = cpu_seconds(workers) - cpu0
        out = {
            "workers": n,
            "partitions": list(owned.values()),
            "events_per_s": progress.steady_rate(),
            "wall_s": progress.wall_seconds(),
            "events_per_cpu_s": len(events) / cpu,
            "machine_busy_share": busy_share(machine0, machine_jiffies()),
            "per_worker_events": [w.metric(EVENTS) for w in workers.members],
            "wal_bytes_per_event": wal_bytes_since(s.database_url, wal) / len(events),
        }
    finally:
        workers.stop()
    return out | _end_state(s, catalog, events)


def kill_midway(
    s: Settings, catalog: Catalog, events: list[Observation], logs: Path, timeout: float
) -> dict[str, Any]:
    """Two workers; SIGKILL one a quarter into its share; handover time and end state."""
    workers = Workers.start(s, 2, logs)
    victim, survivor = workers.members
    try:
        owned = _group(s, workers.members, timeout=90)
        t0 = time.monotonic()
        preload(s.kafka_bootstrap or "", s.topic("observations.v1"), events)
        share = len(events) * len(owned[victim.port]) / sum(map(len, owned.values()))
        wait_for(
            lambda: victim.metric(EVENTS) >= share / 4,
            timeout=timeout,
            interval=0.1,
            what="a quarter of the victim's share applied",
        )
        counted = victim.metric(EVENTS)
        left = _lag(s, set(owned[victim.port]))
        victim.kill()
        killed = time.monotonic()
        _group(s, [survivor], timeout=90)
        handover = time.monotonic() - killed
        wait_for(
            lambda: _lag(s) == 0, timeout=timeout, interval=0.25, what="every offset committed"
        )
        out = {
            "partitions": list(owned.values()),
            "victim_counted_before_kill": counted,
            "victim_uncommitted_at_kill": left,
            "handover_s": handover,
            "all_committed_s": time.monotonic() - t0,
            "redelivered": counted + survivor.metric(EVENTS) - len(events),
        }
    finally:
        workers.stop()
    return out | _end_state(s, catalog, events)


def _sizes(s: Settings, kafka: LocalKafka, events: list[Observation]) -> dict[str, Any]:
    on_disk = topic_bytes(kafka.data_dir, s.topic("observations.v1"))
    tables = table_sizes(s.database_url)
    return {
        "json_bytes_per_event": sum(len(e.to_json()) for e in events) / len(events),
        "topic_bytes_per_event": on_disk / len(events),
        "tables": {k: {"rows": v.rows, "bytes": v.bytes} for k, v in tables.items()},
        "raw_consume_per_s": raw_consume_rate(
            s.kafka_bootstrap or "", s.topic("observations.v1"), len(events)
        ),
    }


def _report(out: dict[str, Any]) -> None:
    one, two, kill = out["one"], out["two"], out["kill"]
    for label, r in (("1 worker", one), ("2 workers", two)):
        _say(
            f"{label}: {r['events_per_s']:,.0f} events/s, {r['events_per_cpu_s']:,.0f} per "
            f"CPU-second, {r['wal_bytes_per_event']:,.0f} B of WAL per event, "
            f"machine {r['machine_busy_share']:.0%} busy, partitions {r['partitions']}, "
            f"events per worker {[int(n) for n in r['per_worker_events']]}"
        )
    _say(f"  2 workers / 1 worker: {two['events_per_s'] / one['events_per_s']:.2f}×")
    _say(
        f"kill: partitions {kill['partitions']}; killed after {kill['victim_counted_before_kill']:.0f}"
        f" events with {kill['victim_uncommitted_at_kill']} of its share uncommitted; the other "
        f"owned all after {kill['handover_s']:.1f}s; all committed {kill['all_committed_s']:.1f}s "
        f"after the load started; {kill['redelivered']:.0f} deliveries applied again (as duplicates)"
    )
    for name in ("one", "two", "kill"):
        r = out[name]
        _say(
            f"{name}: oracle mismatches {r['oracle_mismatches']}, "
            f"delivery problems (lost/double) {r['delivery_problems'] or 0}"
        )
    z = out["sizes"]
    _say(
        f"sizes: {z['json_bytes_per_event']:.0f} B JSON per event, {z['topic_bytes_per_event']:.0f}"
        f" B per event on the topic (lz4), raw consume {z['raw_consume_per_s']:,.0f} msgs/s"
    )
    for table, t in z["tables"].items():
        _say(f"  {table}: {t['rows']} rows, {t['bytes'] / max(1, t['rows']):.0f} B per row")


def main(argv: list[str] | None = None) -> int:
    """Run the three phases and print their figures."""
    p = argparse.ArgumentParser(prog="python -m bench.aggregate.two_workers", description=__doc__)
    p.add_argument("--events", type=int, default=40_000)
    p.add_argument("--workload", choices=WORKLOADS, default="sweeps")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    catalog = default_catalog()
    events = make_events(catalog, args.workload, args.events, seed=args.seed)
    out: dict[str, Any] = {"events": len(events), "workload": args.workload}
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-2w-")))
        kafka = stack.enter_context(LocalKafka(workdir / "kafka"))
        pg = stack.enter_context(LocalPostgres())
        for name, n in (("one", 1), ("two", 2)):
            s = _settings(kafka, pg, name)
            out[name] = throughput(s, catalog, events, n, workdir / name, args.timeout)
            _say(f"{name}: {out[name]['events_per_s']:,.0f} events/s")
            if name == "one":
                out["sizes"] = _sizes(s, kafka, events)
        out["kill"] = kill_midway(
            _settings(kafka, pg, "kill"), catalog, events, workdir / "kill", args.timeout
        )
    _report(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    bad = [
        n
        for n in ("one", "two", "kill")
        if out[n]["oracle_mismatches"] or out[n]["delivery_problems"]
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
