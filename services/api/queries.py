"""Every SQL the read API runs: SQLAlchemy Core selects on the read model, nothing else.

The API never writes; any number of replicas can read the same database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    Table,
    func,
    literal,
    select,
    text,
    type_coerce,
)

from services.api.projected import moment_of, rows_of
from shared.db.schema import (
    area_profiles,
    etappmal_status,
    indicator_status,
    namnd_rollup,
    read_model_state,
    risk_index,
    series,
    series_versions,
)
from shared.domain.documents import EtappmalDocument, IndikatorDocument, NamndDocument
from shared.domain.status import Point
from shared.readmodel.profiles import PROFILE_COLUMNS

TIMES = frozenset({"updated_at", "received_at", "committed_at"})
EPSILON = 1e-9  # decimal-year positions are sums of twelfths: compare with a little slack

SERIES_COLUMNS = (
    "indicator",
    "area",
    "area_level",
    "period",
    "period_start",
    "gender",
    "value",
    "numerator",
    "denominator",
    "origin",
    "status",
    "coverage",
    "n_reporting",
    "n_children",
    "computed_value",
    "reported_value",
    "source",
    "observation_id",
    "comment",
    "updated_at",
    "received_at",
    "committed_at",
    "preliminary",
    "n_preliminary",
    "retracted",
)

VERSION_COLUMNS = (
    "indicator",
    "area",
    "period",
    "gender",
    "observation_id",
    "source",
    "value",
    "numerator",
    "denominator",
    "retract",
    "status",
    "updated_at",
    "received_at",
    "outcome",
)


@dataclass(frozen=True)
class SeriesFilter:
    """Filters of `GET /v1/indikatorer/{id}/observationer`; empty tuples mean any."""

    indicator: str
    areas: tuple[str, ...] = ()
    genders: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: float | None = None  # first period_start included
    end: float | None = None  # period_start must be below this
    include_missing: bool = False
    changed_since: datetime | None = None  # only rows whose committed_at is at or after it

    def where(self, committed_at: datetime | None = None) -> list[ColumnElement[bool]]:
        """The WHERE clauses; `committed_at`: that of every row (a past moment's `as_of`)."""
        c = series.c
        clauses: list[ColumnElement[bool]] = [c.indicator == self.indicator]
        for column, values in (
            (c.area, self.areas),
            (c.gender, self.genders),
            (c.area_level, self.levels),
            (c.origin, self.origins),
            (c.status, self.statuses),
        ):
            if values:
                clauses.append(column.in_(values))
        if self.start is not None:
            clauses.append(c.period_start >= self.start - EPSILON)
        if self.end is not None:
            clauses.append(c.period_start < self.end - EPSILON)
        if self.changed_since is not None and committed_at is not None:
            # both bound as the column's values are, so compared as the stored ones would be
            clauses.append(literal(committed_at, c.committed_at.type) >= self.changed_since)
        elif self.changed_since is not None:
            clauses.append(c.committed_at >= self.changed_since)
        elif not self.include_missing:  # a change may be a value gone: changes include them
            clauses.append(c.value.is_not(None))
        return clauses


def series_page(
    conn: Connection, where: SeriesFilter, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """The total of matching series rows and one page of them, ordered area, gender, period."""
    moment = moment_of(conn)
    clauses = where.where(None if moment is None else moment.as_of)
    total = conn.execute(select(func.count()).select_from(series).where(*clauses)).scalar_one()
    c = series.c
    query = (
        select(*_columns(conn, SERIES_COLUMNS))
        .where(*clauses)
        .order_by(c.area, c.gender, c.period_start, c.period)
        .limit(limit)
        .offset(offset)
    )
    rows = _dicts(conn, SERIES_COLUMNS, query)
    if moment is not None:  # the rows kept from a copy carry another moment's stamp
        stamp = _sqlite_time(moment.committed_at)
        for row in rows:
            row["committed_at"] = stamp
    return int(total), rows


def version_page(
    conn: Connection,
    where: dict[str, str],
    limit: int,
    offset: int,
    *conditions: ColumnElement[bool],
) -> tuple[int, list[dict[str, Any]]]:
    """The total of matching versions (that meet `conditions`) and one page of them: by series,
    then in version order (a duplicate after the version it repeats)."""
    c = series_versions.c
    clauses = [*(c[name] == value for name, value in where.items()), *conditions]
    total = conn.execute(select(func.count()).select_from(series_versions).where(*clauses))
    query = (
        select(*_columns(conn, VERSION_COLUMNS, series_versions))
        .where(*clauses)
        .order_by(c.area, c.gender, c.period, c.updated_at, c.observation_id, c.version_id)
        .limit(limit)
        .offset(offset)
    )
    return int(total.scalar_one()), _dicts(conn, VERSION_COLUMNS, query)


def _columns(
    conn: Connection, names: Sequence[str], table: Table = series
) -> list[ColumnElement[Any]]:
    """Columns of `table`; on SQLite times come as their stored text (parsing them costs more
    than the query), turned into RFC 3339 by `_dicts`."""
    if conn.dialect.name != "sqlite":
        return [table.c[name] for name in names]
    return [
        type_coerce(table.c[name], String).label(name) if name in TIMES else table.c[name]
        for name in names
    ]


def _dicts(conn: Connection, names: Sequence[str], query: Select[Any]) -> list[dict[str, Any]]:
    rows = [dict(zip(names, row, strict=True)) for row in conn.execute(query)]
    if conn.dialect.name == "sqlite":
        times = [name for name in names if name in TIMES]
        for row in rows:
            for name in times:
                if row[name] is not None:
                    row[name] = _sqlite_time(row[name])
    return rows


def _sqlite_time(stored: str) -> str:
    """`2025-03-01 06:00:00.010000` (UTC, as SQLAlchemy stores it) → `2025-03-01T06:00:00.010000Z`."""
    text_ = stored.replace(" ", "T", 1)
    if text_.endswith(".000000"):
        text_ = text_[:-7]
    return text_ if text_.endswith("Z") or "+" in text_[10:] else text_ + "Z"


def points(
    conn: Connection, area: str, gender: str, indicators: Sequence[str] | None = None
) -> dict[str, list[Point]]:
    """Every value of the series of one area and gender, by indicator."""
    c = series.c
    query = select(c.indicator, c.period, c.value, c.origin, c.coverage, c.preliminary).where(
        c.area == area, c.gender == gender, c.value.is_not(None)
    )
    if indicators is not None:
        query = query.where(c.indicator.in_(indicators))
    result: dict[str, list[Point]] = {}
    for row in conn.execute(query):
        point = Point.of(row.period, float(row.value), row.origin, row.coverage, row.preliminary)
        result.setdefault(row.indicator, []).append(point)
    return result


def latest_rows(conn: Connection, areas: Sequence[str], gender: str) -> list[dict[str, Any]]:
    """Rows with a value of some areas and one gender (for area profiles)."""
    c = series.c
    query = select(*_columns(conn, PROFILE_COLUMNS)).where(
        c.area.in_(areas), c.gender == gender, c.value.is_not(None)
    )
    return _dicts(conn, PROFILE_COLUMNS, query)


def profile_document(conn: Connection, area: str, gender: str) -> dict[str, Any] | None:
    """The projected profile of one area and gender (`shared.readmodel.profiles`), if any."""
    t = area_profiles.c
    query = select(t.document).where(t.area == area, t.gender == gender)
    return conn.execute(query).scalar()


def indikator_documents(
    conn: Connection, area: str, gender: str
) -> dict[str, tuple[IndikatorDocument, Any]]:
    """Stored indicator summaries of one area and gender: id → (document, computed_at)."""
    projected = rows_of(conn, indicator_status)
    if projected is not None:
        mine = [r for r in projected if r["area"] == area and r["gender"] == gender]
        return {r["indicator"]: (r["document"], r["computed_at"]) for r in mine}
    t = indicator_status.c
    query = select(t.indicator, t.document, t.computed_at).where(t.area == area, t.gender == gender)
    return {row.indicator: (row.document, row.computed_at) for row in conn.execute(query)}


def etappmal_documents(conn: Connection) -> dict[str, tuple[EtappmalDocument, Any]]:
    """Stored etappmål summaries: id → (document, computed_at)."""
    projected = rows_of(conn, etappmal_status)
    if projected is not None:
        return {r["etappmal"]: (r["document"], r["computed_at"]) for r in projected}
    t = etappmal_status.c
    rows = conn.execute(select(t.etappmal, t.document, t.computed_at))
    return {row.etappmal: (row.document, row.computed_at) for row in rows}


def namnd_documents(conn: Connection) -> dict[str, tuple[NamndDocument, Any]]:
    """Stored nämnd rollups: id → (document, computed_at)."""
    projected = rows_of(conn, namnd_rollup)
    if projected is not None:
        return {r["namnd"]: (r["document"], r["computed_at"]) for r in projected}
    t = namnd_rollup.c
    rows = conn.execute(select(t.namnd, t.document, t.computed_at))
    return {row.namnd: (row.document, row.computed_at) for row in rows}


def risk_rows(conn: Connection, area: str | None = None) -> dict[str, dict[str, Any]]:
    """The social-risk index by area (`area`: that area's alone, its rank among all included)."""
    projected = rows_of(conn, risk_index)
    if projected is not None:
        return {r["area"]: dict(r) for r in projected if area in (None, r["area"])}
    names = [c.name for c in risk_index.columns]
    query = select(risk_index)
    if area is not None:  # a profile: not every area's JSON lists decoded for one
        query = query.where(risk_index.c.area == area)
    rows = conn.execute(query)
    return {row.area: dict(zip(names, row, strict=True)) for row in rows}


def check_schema(conn: Connection) -> str | None:
    """The Alembic revision, after touching every table the API reads (raises if one is missing)."""
    for table in (
        series,
        indicator_status,
        etappmal_status,
        namnd_rollup,
        risk_index,
        read_model_state,
    ):
        conn.execute(select(literal(1)).select_from(table).limit(1)).all()
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])
