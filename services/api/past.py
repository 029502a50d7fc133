"""A read model of a past knowledge time, built from the versions known then.

An `as_of` answer is served by the same routes and queries as the current one, against a private
SQLite read model: of the versions with `received_at ≤ as_of` (and, for a report, recorded by the
time it was frozen) each series' winner is chosen on one scan and applied, in the order of the
canonical topic (partition and offset, which a rebuild keeps; version order without one), by
the aggregator's own rollup engine in memory with the catalog in force then; the rows are written
in one transaction by the aggregator's store, and each kind of summary is projected by its
projector, judged at `as_of`, when an answer first reads it (`services.api.projected`). Nothing in it depends on when it was built, so a report's answers are the same bytes
whenever they are asked. The versions themselves stay where they are (`historik` reads them there).

A moment may instead be derived from another one built with the same catalog (`derive`). An
observation touches only the rows of its own (indicator, period, gender) group (its series and its
parents, `RollupEngine.keys_for`), and a group's winners are applied in the same relative order
whichever groups are replayed, so a group's rows depend only on the versions of it counted: the
groups whose counted versions are the same in both moments are kept from a copy of the other
model's file (this moment's `as_of` put in as their `committed_at` when read), only the others
are replayed, and the summaries are projected again at `as_of` as answers read them. The result
answers as a build from the versions alone does (with `eager`, it holds the same rows).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Row,
    Select,
    String,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from services.api.caching import ReadState
from services.api.projected import Projections
from shared.db.engine import make_engine
from shared.db.schema import metadata, read_model_state, series, series_versions
from shared.db.upsert import chunks, upsert
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation, as_utc
from shared.domain.rollup import (
    InvalidObservationError,
    Outcome,
    RollupEngine,
    SeriesId,
    SeriesState,
    Version,
    arrival,
)
from shared.readmodel.projections import Projector
from shared.readmodel.store import SeriesStore

FETCHED = 5000  # versions per fetch from the source
REFUSED = 200  # series per query of the versions of refused winners
WRITTEN = 5000  # rows per write
FILE = "read-model.db"
# a throwaway database: nothing in it needs to survive a crash
THROWAWAY = ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY")
SERIES = ("indicator", "area", "period", "gender")
FIELDS = (
    *("observation_id", "source", "received_at", "value", "numerator", "denominator"),
    *("status", "updated_at", "comment", "retract"),
)


GROUP = ("indicator", "period", "gender")
# (indicator, period, gender): the rows one observation may touch (its series and its parents)
Group = tuple[str, str, str]
POSITION = ("kafka_topic", "kafka_partition", "kafka_offset")
# (topic, partition, offset): the newest position of a partition a moment counts
Position = tuple[str, int, int]


@dataclass(frozen=True)
class Moment:
    """What a past read model counts: versions received by `as_of`, up to `last_version_id` —
    or, for a report, up to its `positions` in the canonical topic (kept by a rebuild)."""

    as_of: datetime
    last_version_id: int
    positions: tuple[Position, ...] | None = None
    # of a moment of `as_of` alone: how many versions it counts. Version ids are handed out as
    # rows are inserted, so on PostgreSQL a batch of lower ids can commit after one of higher
    # ids: the count tells the moment before from the one after (its key and its revision).
    counted: int | None = None


@dataclass
class PastModel:
    """A built read model of one moment: its read-only engine and its fixed read state."""

    engine: Engine
    state: ReadState
    folder: Path
    moment: Moment  # what it counts, read in the snapshot it was computed from
    # the summaries, projected as answers read them; None: projected into the file when built
    projections: Projections | None = None

    @property
    def path(self) -> Path:
        """The model's SQLite file."""
        return self.folder / FILE

    def close(self) -> None:
        """Dispose of the engine and delete the files."""
        self.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)


def counted_by(engine: Engine, as_of: datetime) -> tuple[int, int]:
    """The newest version received by `as_of` and how many were (0, 0 when none)."""
    t = series_versions.c
    query = select(func.max(t.version_id), func.count()).where(t.received_at <= as_of)
    with engine.connect() as conn:
        last, count = conn.execute(query).one()
    return int(last or 0), int(count or 0)


def _in_snapshot(conn: Connection, moment: Moment) -> Moment:
    """`moment` with the versions it counts in this snapshot (a moment of `as_of` alone: a batch
    of lower ids may have committed since it was named)."""
    if moment.counted is None:
        return moment
    found = conn.execute(select(func.count()).where(*known(moment))).scalar()
    return replace(moment, counted=int(found or 0))


def last_version_id(engine: Engine, received_by: datetime | None = None) -> int:
    """The newest version recorded (received by `received_by`, if given); 0 when none."""
    t = series_versions.c
    query = select(func.max(t.version_id))
    if received_by is not None:
        query = query.where(t.received_at <= received_by)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def newest_known(conn: Connection, moment: Moment) -> datetime | None:
    """The newest `received_at` of the versions counted at `moment` (the answers' data time)."""
    newest = conn.execute(select(func.max(series_versions.c.received_at)).where(*known(moment)))
    found = newest.scalar()
    return as_utc(found) if found is not None else None


def known(moment: Moment) -> list[ColumnElement[bool]]:
    """The conditions on `series_versions` of the versions counted at `moment`."""
    t = series_versions.c
    numbered = t.version_id <= moment.last_version_id
    if moment.positions is None:
        return [t.received_at <= moment.as_of, numbered]
    placed = [
        and_(t.kafka_topic == topic, t.kafka_partition == partition, t.kafka_offset <= offset)
        for topic, partition, offset in moment.positions
    ]
    return [t.received_at <= moment.as_of, or_(and_(t.kafka_topic.is_(None), numbered), *placed)]


def changed_groups(conn: Connection, moment: Moment, other: Moment, after: int = 0) -> set[Group]:
    """The groups some version of which one of two moments counts and the other does not: the
    only groups whose rows may differ between them (each group's rows depend on its versions
    alone, applied in the same order). Only versions `after` a version id are read: the caller
    knows that both count the same ones up to it."""
    t = series_versions.c
    differ = _counted(moment) != _counted(other)
    query = select(*(t[k] for k in GROUP)).where(t.version_id > after, differ).distinct()
    return {(str(i), str(p), str(g)) for i, p, g in conn.execute(query)}


def nearest(
    conn: Connection, moment: Moment, others: Sequence[Moment]
) -> tuple[int | None, set[Group], datetime | None]:
    """The index of the one of `others` that differs from `moment` by the fewest versions (one
    scan counts them for all), the groups they differ in, and `moment`'s `newest_known` (on the
    same scan). `others` is not empty. A moment of `as_of` alone that counts more versions now
    than when its model was computed (a batch of lower ids committed after it) is no base: its
    model lacks them; None when no other is one."""
    mine = _counted(moment)
    differing = [func.sum(case((_counted(o) != mine, 1), else_=0)) for o in others]
    t = series_versions.c
    newest = func.max(case((mine == 1, t.received_at), else_=None))
    # Of two moments of `as_of` alone, a version both number (up to the lower last version id)
    # and received by the earlier as_of counts in both. So when every version up to that id was
    # received by then (the newest of them, found on this scan), they differ only after it.
    lows = [_shared_prefix(moment, o) for o in others]
    below = [func.max(case((t.version_id <= low, t.received_at), else_=None)) for low in lows]
    now_counted = [func.sum(_counted(o)) for o in others]
    found = conn.execute(select(newest, *differing, *below, *now_counted)).one()
    n = len(others)
    latest, counts = _received(found[0]), [int(v or 0) for v in found[1 : n + 1]]
    whole = [
        o.counted is None or int(v or 0) == o.counted
        for o, v in zip(others, found[2 * n + 1 : 3 * n + 1], strict=True)
    ]
    bases = [i for i in range(n) if whole[i]]
    if not bases:
        return None, set(), latest
    best = min(bases, key=counts.__getitem__)
    if not counts[best]:
        return best, set(), latest
    received, other = _received(found[len(others) + 1 + best]), others[best]
    after = 0
    if lows[best] and (received is None or received <= min(moment.as_of, other.as_of)):
        after = lows[best]
    return best, changed_groups(conn, moment, other, after), latest


def _shared_prefix(moment: Moment, other: Moment) -> int:
    """The lower last version id of two moments of `as_of` alone (0 when one is a report's,
    which counts by positions instead)."""
    if moment.positions is not None or other.positions is not None:
        return 0
    return min(moment.last_version_id, other.last_version_id)


def _received(found: Any) -> datetime | None:
    """A `received_at` read back by an aggregate: SQLite's stored text, else a datetime."""
    if found is None:
        return None
    if isinstance(found, str):
        found = datetime.fromisoformat(found)
    return as_utc(found)


def _counted(moment: Moment) -> ColumnElement[int]:
    """1 for a version `moment` counts, else 0 (never NULL, so that two can be compared)."""
    return case((and_(*known(moment)), 1), else_=0)


def positions(engine: Engine, up_to: int) -> tuple[Position, ...]:
    """The newest position of every partition among versions `up_to` a version id (a
    partition's recorded versions are a prefix of it: one worker writes it, in order)."""
    t = series_versions.c
    query = (
        select(t.kafka_topic, t.kafka_partition, func.max(t.kafka_offset))
        .where(t.kafka_topic.is_not(None), t.version_id <= up_to)
        .group_by(t.kafka_topic, t.kafka_partition)
        .order_by(t.kafka_topic, t.kafka_partition)
    )
    with engine.connect() as conn:
        return tuple((str(a), int(b), int(c)) for a, b, c in conn.execute(query))


def versions_query(
    moment: Moment, keys: Sequence[SeriesId] = (), groups: Sequence[Group] = ()
) -> Select[Any]:
    """The versions known at `moment`, in version order: of the series `keys`, if given, or
    else of the groups `groups`, if given (with others that share their values: the caller
    keeps the ones it asked for)."""
    t = series_versions.c
    where = [t[k].in_(sorted({key[i] for key in keys})) for i, k in enumerate(SERIES) if keys]
    where += [t[k].in_(sorted({g[i] for g in groups})) for i, k in enumerate(GROUP) if groups]
    columns = [t[k] for k in (*SERIES, *FIELDS, *POSITION, "version_id")]
    return select(*columns).where(*known(moment), *where).order_by(t.version_id)


def winners(
    conn: Connection, query: Select[Any], groups: set[Group] | None = None
) -> list[Row[Any]]:
    """Each series' winning version of those a query selects (of `groups` only, if given), in
    version order.

    Versions arrive as the engine saw them (`arrival`, on the version alone), so that only the
    winners need to become observations; on SQLite one scan in primary-key order costs less than
    a window function's sort.
    """
    best: dict[tuple[Any, ...], tuple[Version, int, Row[Any]]] = {}
    result = conn.execution_options(yield_per=FETCHED).execute(query)
    for order, row in enumerate(result):
        if groups is not None and (row[0], row[2], row[3]) not in groups:
            continue
        key, version = row[:4], (row.updated_at, row.observation_id)
        found = best.get(key)
        if arrival(found[0] if found else None, version) is Outcome.APPLIED:
            best[key] = (version, order, row)
    return [row for _, _, row in sorted(best.values(), key=_placed)]


def _placed(found: tuple[Version, int, Row[Any]]) -> tuple[Any, ...]:
    """Topic order, the same after a rebuild (float sums depend on the order they are added)."""
    _, order, row = found
    if row.kafka_topic is None:
        return (0, "", 0, 0, order)
    return (1, row.kafka_topic, row.kafka_partition, row.kafka_offset, order)


def _observation(row: Row[Any]) -> Observation:
    """A recorded version as the observation it was (SQLite hands back naive UTC times)."""
    fields = dict(zip(SERIES + FIELDS, row[: len(SERIES + FIELDS)], strict=True))
    for name in ("received_at", "updated_at"):
        fields[name] = as_utc(fields[name])
    return Observation.model_validate(fields)


def replay(
    conn: Connection, moment: Moment, catalog: Catalog, groups: set[Group] | None = None
) -> dict[SeriesId, SeriesState]:
    """The series rows at `moment` (of `groups` only, if given): each winner applied in version
    order, in memory.

    A winner the catalog in force cannot place is skipped, so its series is replayed version by
    version instead: the best version it can place counts, as in a replay of every version.
    Within a group the order is the same whichever groups are replayed, so are its rows.
    """
    engine, rows = RollupEngine(catalog), dict[SeriesId, SeriesState]()
    if groups is not None and not groups:
        return rows
    refused: list[SeriesId] = []
    chosen = sorted(groups) if groups is not None else ()
    for row in winners(conn, versions_query(moment, groups=chosen), groups):
        try:
            engine.apply(rows, _observation(row))
        except InvalidObservationError:
            refused.append(tuple(row[:4]))
    wanted, found = set(refused), list[Row[Any]]()
    for start in range(0, len(refused), REFUSED):
        query = versions_query(moment, refused[start : start + REFUSED])
        found += [row for row in conn.execute(query) if tuple(row[:4]) in wanted]
    # in version order across the queries, so that a group's order never depends on which other
    # series were refused with it
    for row in sorted(found, key=lambda row: int(row.version_id)):
        with suppress(InvalidObservationError):
            engine.apply(rows, _observation(row))
    return rows


def build(source: Engine, moment: Moment, catalog: Catalog, eager: bool = False) -> PastModel:
    """Compute what was known at `moment` into a new SQLite read model and return it (its
    summaries projected as answers read them, or now if `eager`)."""
    with _snapshot(source) as conn:
        moment = _in_snapshot(conn, moment)
        rows = replay(conn, moment, catalog)
        newest = newest_known(conn, moment)
    return _written(moment, catalog, rows, newest, eager=eager)


def derive(
    source: Engine,
    moment: Moment,
    catalog: Catalog,
    kept: Sequence[tuple[Moment, PastModel]],
    eager: bool = False,
) -> PastModel:
    """The read model of `moment` from the one of `kept` (models built with the same catalog,
    not empty) whose moment differs from it by the fewest versions: only the groups whose
    counted versions differ are computed again, the other rows are kept from a copy of it. The
    same rows as `build`'s, since a group's rows depend on its own versions alone, applied in
    the same order either way."""
    with _snapshot(source) as conn:  # which groups differ, and their versions, read together
        moment = _in_snapshot(conn, moment)
        best, groups, newest = nearest(conn, moment, [of for of, _ in kept])
        if best is None:  # none counts now what it counted when it was computed
            rows = replay(conn, moment, catalog)
            return _written(moment, catalog, rows, newest, eager=eager)
        rows = replay(conn, moment, catalog, groups)
    return _written(moment, catalog, rows, newest, (kept[best][1].path, groups), eager)


@contextmanager
def _snapshot(source: Engine) -> Iterator[Connection]:
    """A connection whose statements all read one snapshot of the versions: one transaction
    (a read-only SQLite engine's deferred one; REPEATABLE READ on PostgreSQL)."""
    with source.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


# a base model's file and the groups not to keep from it
Copied = tuple[Path, set[Group]]


def _written(
    moment: Moment,
    catalog: Catalog,
    rows: dict[SeriesId, SeriesState],
    newest: datetime | None,
    copied: Copied | None = None,
    eager: bool = False,
) -> PastModel:
    """A new SQLite read model of `moment`: `rows` (and the rows kept from a copy of a base
    model, but those of the groups `copied` names), its summaries projected at its `as_of` as
    answers read them (`projected`), or into the file now if `eager`."""
    folder = Path(tempfile.mkdtemp(prefix="stadspuls-as-of-"))
    url = f"sqlite:///{folder / FILE}"
    if copied is not None:
        shutil.copyfile(copied[0], folder / FILE)  # the base's committed file (no journal)
    writer = make_engine(url, pragmas=THROWAWAY)
    as_of = moment.as_of
    try:
        if copied is None:
            metadata.create_all(writer)
        with writer.begin() as conn:
            if copied is not None:
                _keep_copied(conn, copied[1], as_of if eager else None)
            store = SeriesStore(writer, catalog)
            for part in chunks(list(rows.values()), WRITTEN):  # the encoded rows a part at a time
                store.write(conn, part, as_of)
            if eager:  # only the city's: other statuses are computed on request
                Projector(catalog, every_area=False).refresh(conn, catalog.indicator, as_of)
            stamps = dict(committed_at=as_of, refreshed_at=as_of, data_as_of=newest)
            upsert(conn, read_model_state, [{"id": 1, "revision": revision_of(moment), **stamps}])
    finally:
        writer.dispose()
    # the revision names what was counted, so ETags differ when a late version joins `as_of`
    state = ReadState(revision_of(moment), newest, as_of, as_of)
    engine = make_engine(url, read_only=True)
    lazy = None if eager else Projections(engine, catalog, as_of)
    return PastModel(engine, state, folder, moment, lazy)


def revision_of(moment: Moment) -> int:
    """What names a moment's counted versions in its ETags: for a moment of `as_of` alone their
    number (versions are only ever added, so at one `as_of` a number is one set), for a report
    its last version id (which with its positions it was frozen with)."""
    return moment.last_version_id if moment.counted is None else moment.counted


def _keep_copied(conn: Connection, groups: set[Group], as_of: datetime | None) -> None:
    """In a copy of a base model, keep only the series rows of every group but `groups`, stamped
    `as_of` as the rows written here are (`SeriesStore.write`), if given (else readers put it in,
    `services.api.projected`): the rest is written again."""
    changed = Table(
        "changed_groups",
        MetaData(),
        *(Column(k, String, primary_key=True) for k in GROUP),
        prefixes=["TEMPORARY"],
    )
    changed.create(conn)
    for part in chunks(sorted(groups)):
        conn.execute(insert(changed), [dict(zip(GROUP, g, strict=True)) for g in part])
    inside = exists().where(*(changed.c[k] == series.c[k] for k in GROUP))
    conn.execute(delete(series).where(inside))
    if as_of is not None:
        conn.execute(update(series).values(committed_at=as_of))
    for table in metadata.sorted_tables:
        if table is not series:
            conn.execute(delete(table))
