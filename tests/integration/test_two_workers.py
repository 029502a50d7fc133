"""Two aggregator workers in one consumer group on real Kafka and PostgreSQL: the canonical topic's
partitions split between them, one of them killed with SIGKILL mid-load, and still every delivery
recorded exactly once and the read model equal to the oracle."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from services.aggregate.lag import OffsetReader
from shared.domain.catalog import Catalog
from shared.infra.wait import wait_for
from shared.settings import Settings
from shared.topics import TOPICS
from tests.aggregator import env_of, wait_until_oracle, workers
from tests.faults.checks import verify
from tests.group import assignment, delivery_problems
from tests.services import ServiceProcess, produce
from tests.streams import StreamMaker

pytestmark = pytest.mark.kafka

EVENTS = "stadspuls_aggregate_events_total"
PARTITIONS = next(t.partitions for t in TOPICS if t.name == "observations.v1")


def _split(settings: Settings, procs: list[ServiceProcess]) -> dict[int, frozenset[int]]:
    """Wait until the group is stable with exactly these workers as members; their partitions."""
    owned: dict[int, frozenset[int]] = {}

    def stable() -> bool:
        nonlocal owned
        owned = assignment(settings)
        return set(owned) == {p.port for p in procs}

    wait_for(stable, timeout=60, interval=0.5, what=f"a stable group of {len(procs)} workers")
    return owned


def _lag_on(settings: Settings, partitions: frozenset[int]) -> int:
    """Events on these partitions of the canonical topic the group has not committed yet."""
    reader = OffsetReader(settings, settings.topic("observations.v1"))
    try:
        return sum(n for (_, p), n in reader.read().lag().items() if p in partitions)
    finally:
        reader.close()


@pytest.mark.timeout(240)
def test_two_workers_split_partitions_and_survive_a_kill(
    settings: Settings, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    events = StreamMaker(catalog, seed=23).stream(12_000)
    procs = workers(settings, tmp_path, 2)
    try:
        for proc in procs:
            proc.start()
        owned = _split(settings, procs)
        victim, survivor = procs
        mine, theirs = owned[victim.port], owned[survivor.port]
        assert mine, f"the first worker owns no partitions: {owned}"
        assert theirs, f"the second worker owns no partitions: {owned}"
        assert not mine & theirs, f"partitions owned twice: {owned}"
        assert mine | theirs == set(range(PARTITIONS)), f"partitions left out: {owned}"

        produce(settings.kafka_bootstrap or "", settings.topic("observations.v1"), events)
        wait_for(
            lambda: victim.metric(EVENTS) >= len(events) // 8,
            timeout=120,
            interval=0.2,
            what="the worker to be killed to apply part of its share",
        )
        assert _lag_on(settings, mine) > 0, "killed too late: its partitions were done"
        victim.kill()

        owned = _split(settings, [survivor])
        assert owned[survivor.port] == set(range(PARTITIONS)), owned
        wait_until_oracle(engine, catalog, events, timeout=120)
        every = frozenset(range(PARTITIONS))  # faust commits offsets every few seconds
        wait_for(lambda: _lag_on(settings, every) == 0, timeout=30, what="offsets committed")
        assert delivery_problems(engine, settings, events) == []
        done = verify(env_of(settings))  # each version's recorded outcome, replayed from the log
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    finally:
        for proc in procs:
            proc.stop()
