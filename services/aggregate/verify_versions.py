"""The versions part of `stadspuls verify`: each replayed delivery recorded once, as on arrival."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select

from services.aggregate.lag import Position
from shared.db.schema import series_versions
from shared.domain.catalog import Catalog
from shared.domain.history import Replay, VersionKey, version_key
from shared.domain.observation import Observation
from shared.domain.rollup import InvalidObservationError

if TYPE_CHECKING:
    from services.aggregate.verify import Report

Recorded = tuple[Position, int, VersionKey, str]  # partition, offset, version, outcome


def expected_versions(
    catalog: Catalog, replayed: Iterable[tuple[Position, int, Observation]]
) -> list[Recorded]:
    """Every delivery's version row as the aggregator records it: the engine's outcome as of
    arrival, a repeated id a duplicate."""
    replay, out = Replay(catalog), []
    for position, offset, obs in replayed:
        try:
            outcome = replay.apply(obs)
        except InvalidObservationError:
            continue
        out.append((position, offset, version_key(obs), outcome.value))
    return out


def compare_versions(
    expected: list[Recorded], actual: list[Recorded], report: Report, *, upgraded: bool = False
) -> None:
    """Deliveries whose version row is missing, extra or differs; in an `upgraded` read model
    (winners recorded without a delivery) only from the first delivery recorded per partition."""
    first: dict[Position, int] = {}
    for position, offset, *_ in actual:
        first[position] = min(first.get(position, offset), offset)
    want = Counter(e for e in expected if not upgraded or e[1] >= first.get(e[0], math.inf))
    got = Counter(actual)
    for row, n in ((want - got) + (got - want)).items():
        side = "replayed, not recorded" if want[row] > got[row] else "recorded, not replayed"
        report.versions.append(
            f"{row[0][0]}[{row[0][1]}]@{row[1]} {'|'.join(row[2])} {row[3]}: {side} ×{n}"
        )


def read_versions(
    engine: Engine, topic: str, stop: dict[Position, int]
) -> tuple[list[Recorded], bool]:
    """The version rows of deliveries of `topic` below `stop`, and whether any row has no
    delivery (recorded by the upgrade to schema 0005)."""
    t = series_versions.c
    unplaced = select(t.version_id).where(t.kafka_topic.is_(None)).limit(1)
    keys = (t.indicator, t.area, t.period, t.gender, t.observation_id)
    query = select(t.kafka_partition, t.kafka_offset, *keys, t.outcome).where(
        t.kafka_topic == topic
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        upgraded = conn.execute(unplaced).first() is not None
    out: list[Recorded] = []
    for partition, offset, *key, outcome in rows:
        if offset < stop.get((topic, partition), 0):
            out.append(((topic, partition), offset, tuple(key), outcome))
    return out, upgraded
