"""`stadspuls verify`: does the read model equal the canonical topic it was built from?

The read model records, per partition and in each batch's transaction, the offset after the newest
event it reflects (`applied_offsets`). Verify replays the topic up to those offsets — and up to the
consumer group's committed offsets where those are further, since every committed event must be in
the read model — through the same domain engine in memory, and compares every series: missing
(expected, absent), extra (present, not expected) and wrong (values, origin, coverage or winning
version or preliminary flag differ). A committed offset beyond the applied one is reported too: events were skipped.
Every replayed delivery must also be in `series_versions` once, with the outcome the engine gives
it on arrival (`versions`), from the first delivery the table recorded in each partition on (a
read model upgraded from before the table holds no older ones).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError
from sqlalchemy import Engine, select

from services.aggregate.lag import OffsetReader, Position, snapshot
from services.aggregate.verify_versions import compare_versions, expected_versions, read_versions
from shared.db.schema import series
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation
from shared.domain.rollup import (
    InvalidObservationError,
    RollupEngine,
    SeriesId,
    SeriesState,
    visible,
)
from shared.kafka_security import client_options
from shared.readmodel.store import read_offsets
from shared.settings import Settings

COMPARED = ("value", "numerator", "denominator", "computed_value", "coverage")


@dataclass
class Report:
    """What verify found; `ok` when the read model equals the log."""

    events: int = 0
    stop: dict[Position, int] = field(default_factory=dict)  # replayed up to these offsets
    skipped: list[str] = field(default_factory=list)  # committed beyond applied
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)  # deliveries recorded otherwise than replayed

    @property
    def ok(self) -> bool:
        """No difference at all."""
        return not (self.skipped or self.missing or self.extra or self.wrong or self.versions)


def expected_rows(catalog: Catalog, events: Iterable[Observation]) -> dict[SeriesId, SeriesState]:
    """The series rows the domain engine derives from `events` (what cannot be placed is skipped)."""
    engine, rows = RollupEngine(catalog), dict[SeriesId, SeriesState]()
    for obs in events:
        try:
            engine.apply(rows, obs)
        except InvalidObservationError:
            continue  # the aggregator sends it to the DLQ
    return rows


def shown(catalog: Catalog, row: SeriesState) -> dict[str, Any] | None:
    """What a reader sees of an expected row; None when it shows nothing."""
    seen = visible(catalog.indicator[row.indicator], row)
    if seen.origin is None:
        return None
    return {
        "value": seen.value,
        "numerator": seen.numerator,
        "denominator": seen.denominator,
        "computed_value": seen.computed_value,
        "coverage": seen.coverage,
        "origin": seen.origin.value,
        "observation_id": row.observation_id if seen.origin.value == "reported" else None,
        "preliminary": seen.preliminary,
    }


def compare(
    catalog: Catalog,
    expected: dict[SeriesId, SeriesState],
    actual: dict[SeriesId, dict[str, Any]],
    report: Report,
) -> None:
    """Sort every series into missing, extra or wrong (or equal) on `report`."""
    for key in sorted(expected.keys() | actual.keys()):
        want = shown(catalog, expected[key]) if key in expected else None
        got = actual.get(key)
        got = got if got is not None and got["origin"] is not None else None
        name = "|".join(key)
        if want is None and got is None:
            continue
        if got is None:
            report.missing.append(f"{name}: expected {want}")
        elif want is None:
            report.extra.append(f"{name}: read model has {got}, the log nothing")
        elif differs(want, got):
            report.wrong.append(f"{name}: expected {want}, read model has {got}")


def differs(want: dict[str, Any], got: dict[str, Any]) -> bool:
    """Whether two shown rows differ (numbers within float rounding of different orders)."""
    if any(want[c] != got[c] for c in ("origin", "observation_id", "preliminary")):
        return True
    return any(not _close(want[c], got[c]) for c in COMPARED)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def read_model(engine: Engine) -> dict[SeriesId, dict[str, Any]]:
    """Every series row of the read model as a reader sees it."""
    cols = [series.c[c] for c in ("indicator", "area", "period", "gender", *COMPARED, "origin")]
    out = {}
    with engine.connect() as conn:
        for r in conn.execute(select(*cols, series.c.observation_id, series.c.preliminary)):
            row = r._asdict()
            if row["origin"] != "reported":
                row["observation_id"] = None  # only a reported winner is compared
            out[(r.indicator, r.area, r.period, r.gender)] = row
    return out


def replay(
    settings: Settings, topic: str, stop: dict[Position, int]
) -> Iterator[tuple[Position, int, Observation]]:
    """Decode the topic's events from the start up to `stop` per partition (no consumer group)."""
    wanted = {TopicPartition(t, p): n for (t, p), n in stop.items() if n > 0}
    if not wanted:
        return
    consumer = KafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        client_id="stadspuls-verify",
        group_id=None,
    )
    try:
        consumer.assign(list(wanted))
        consumer.seek_to_beginning(*wanted)
        deadline = time.monotonic() + 600
        while wanted:
            for tp, records in consumer.poll(timeout_ms=1000, max_records=5000).items():
                for record in records:
                    if record.offset < wanted.get(tp, 0):
                        try:
                            obs = Observation.model_validate_json(record.value)
                        except ValidationError:
                            continue  # malformed: the aggregator sends it to the DLQ
                        yield (tp.topic, tp.partition), record.offset, obs
            for tp in [tp for tp, n in wanted.items() if consumer.position(tp) >= n]:
                del wanted[tp]
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not reach offsets {wanted}")
    finally:
        consumer.close()


def verify(settings: Settings, catalog: Catalog, engine: Engine, attempts: int = 3) -> Report:
    """Compare the read model with the canonical topic; retried while a live aggregator moves on."""
    topic = settings.topic("observations.v1")
    reader = OffsetReader(settings, topic)
    report = Report()
    try:
        for _ in range(attempts):
            group, applied = snapshot(reader, engine)
            report = Report()
            for position in sorted(group.ends):
                done, committed = applied.get(position, 0), group.committed.get(position, 0)
                report.stop[position] = max(done, committed)
                if committed > done:
                    report.skipped.append(
                        f"{position[0]}[{position[1]}]: committed offset "
                        f"{committed} is beyond the applied offset {done}"
                    )
            replayed = list(replay(settings, topic, report.stop))
            report.events = len(replayed)
            events = [obs for _, _, obs in replayed]
            compare(catalog, expected_rows(catalog, events), read_model(engine), report)
            recorded, upgraded = read_versions(engine, topic, report.stop)
            expected = expected_versions(catalog, replayed)
            compare_versions(expected, recorded, report, upgraded=upgraded)
            with engine.connect() as conn:
                moved = read_offsets(conn, topic) != applied
            if report.ok or not moved:
                break
        return report
    finally:
        reader.close()
