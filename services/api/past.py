"""A read model of a past knowledge time, built from the versions known then.

An `as_of` answer is served by the same routes and queries as the current one, against a private
SQLite read model: the versions with `received_at ≤ as_of` (and, for a report, recorded by the
time it was frozen) are replayed in version order through the aggregator's own store and
projections with the catalog in force then, and every summary is judged at `as_of`. Nothing in it
depends on when it was built, so a report's answers are the same bytes whenever they are asked.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, update

from services.api.caching import ReadState
from shared.db.engine import make_engine
from shared.db.schema import (
    etappmal_status,
    indicator_status,
    metadata,
    namnd_rollup,
    read_model_state,
    risk_index,
    series,
    series_versions,
)
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation, as_utc
from shared.domain.rollup import InvalidObservationError, RollupEngine
from shared.readmodel.projections import Projector
from shared.readmodel.store import SeriesStore

BATCH = 2000  # versions per replayed transaction (fixed: sums are added in the same order)


@dataclass(frozen=True)
class Moment:
    """What a past read model counts: versions received by `as_of`, up to `last_version_id`."""

    as_of: datetime
    last_version_id: int


@dataclass
class PastModel:
    """A built read model of one moment: its read-only engine and its fixed read state."""

    engine: Engine
    state: ReadState
    folder: Path

    def close(self) -> None:
        """Dispose of the engine and delete the files."""
        self.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)


def last_version_id(engine: Engine, received_by: datetime | None = None) -> int:
    """The newest version recorded (received by `received_by`, if given); 0 when none."""
    t = series_versions.c
    query = select(func.max(t.version_id))
    if received_by is not None:
        query = query.where(t.received_at <= received_by)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def versions_known(source: Engine, moment: Moment) -> Iterator[list[Observation]]:
    """The versions counted at `moment` as observations, in version order, a batch at a time."""
    t = series_versions.c
    fields = ("observation_id", "source", "received_at", "indicator", "area", "period", "gender")
    values = ("value", "numerator", "denominator", "status", "updated_at", "comment", "retract")
    query = (
        select(*(t[name] for name in (*fields, *values)))
        .where(t.received_at <= moment.as_of, t.version_id <= moment.last_version_id)
        .order_by(t.version_id)
    )
    with source.connect() as conn:
        result = conn.execution_options(yield_per=BATCH).execute(query)
        for part in result.partitions(BATCH):
            yield [_observation(row._asdict()) for row in part]


def _observation(row: dict[str, object]) -> Observation:
    """A recorded version as the observation it was (SQLite hands back naive UTC times)."""
    for name in ("received_at", "updated_at"):
        row[name] = as_utc(row[name])  # type: ignore[arg-type]
    return Observation.model_validate(row)


def build(source: Engine, moment: Moment, catalog: Catalog) -> PastModel:
    """Replay what was known at `moment` into a new SQLite read model and return it."""
    folder = Path(tempfile.mkdtemp(prefix="stadspuls-as-of-"))
    url = f"sqlite:///{folder / 'read-model.db'}"
    writer = make_engine(url)
    try:
        metadata.create_all(writer)
        store, rollup = SeriesStore(writer, catalog), RollupEngine(catalog)
        newest: datetime | None = None
        for batch in versions_known(source, moment):
            store.apply([obs for obs in batch if _placeable(rollup, obs)])
            newest = max([as_utc(o.received_at) for o in batch] + ([newest] if newest else []))
        as_of = moment.as_of
        with writer.begin() as conn:
            Projector(catalog).refresh(conn, catalog.indicator, as_of)
            # what the replay stamped with the present is stamped with the moment instead
            conn.execute(update(series).values(committed_at=as_of))
            for table in (indicator_status, etappmal_status, namnd_rollup, risk_index):
                conn.execute(update(table).values(computed_at=as_of))
            conn.execute(
                update(read_model_state).values(
                    revision=moment.last_version_id,
                    data_as_of=newest,
                    committed_at=as_of,
                    refreshed_at=as_of,
                )
            )
    finally:
        writer.dispose()
    # the revision names what was counted, so ETags differ when a late version joins `as_of`
    state = ReadState(moment.last_version_id, newest, as_of, as_of)
    return PastModel(make_engine(url, read_only=True), state, folder)


def _placeable(rollup: RollupEngine, obs: Observation) -> bool:
    """Whether the catalog in force can place a version (another catalog's may not)."""
    try:
        rollup.check(obs)
    except InvalidObservationError:
        return False
    return True
