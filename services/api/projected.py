"""The summaries of a past moment, projected when an answer first reads them.

A moment's summaries (indicator and etappmål status, nämnd rollups, the social-risk index) are
each a pure function of its series rows and `as_of`, so a moment need not project all of them up
front: the etappmål list reads the indicators' and etappmål's only, one nämnd's rollup those and
the nämnder's, an area's profile the risk index. Each kind is computed once per moment, on first
demand (one at a time per moment, so concurrent requests wait for one projection), by the
aggregator's `Projector`, exactly as an eager projection at `as_of` would, and kept in memory as
the table would store them and read back through the dialect's own result processing on every
read (as a read of the table would be), so the answers are the same bytes. Nothing is written to the moment's file: requests
reading it are never blocked.

Every series row of a moment counts as committed at its `as_of`; the rows a derived moment keeps
from a copy of another are not stamped with it (an `UPDATE` of every row), the series reads of
`services.api.queries` put it in instead (`committed_at`, as the table would store it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Dialect, Engine, Float, Table

from shared.db.schema import etappmal_status, indicator_status, namnd_rollup, risk_index, series
from shared.domain.catalog import TOTAL, Catalog
from shared.domain.documents import EtappmalDocument, IndikatorDocument
from shared.domain.summary import etappmal_summary, namnd_summary
from shared.readmodel.area_status import status_row
from shared.readmodel.projections import Projector, _etappmal_row, _risk_row

Row = dict[str, Any]
# the tables one projection fills, in the order `Projector.refresh` fills them
KINDS: dict[str, tuple[Table, ...]] = {
    "status": (indicator_status, etappmal_status),
    "namnd": (namnd_rollup,),
    "risk": (risk_index,),
}
KIND_OF = {table.name: kind for kind, tables in KINDS.items() for table in tables}

_OF: WeakKeyDictionary[Engine, Projections] = WeakKeyDictionary()


def rows_of(conn: Connection, table: Table) -> list[Row] | None:
    """The rows of `table` of a lazily projected moment read through `conn`; None for any other
    read model (read the table)."""
    projections = moment_of(conn)
    return None if projections is None else projections.rows(table)


def moment_of(conn: Connection) -> Projections | None:
    """The projections of the lazily projected moment `conn` reads; None for any other model."""
    return _OF.get(conn.engine)


class Projections:
    """The summaries of one moment (its read-only `engine`), each kind projected once."""

    def __init__(self, engine: Engine, catalog: Catalog, as_of: datetime) -> None:
        self.engine, self.catalog, self.as_of = engine, catalog, as_of
        self.projector = Projector(catalog, every_area=False)
        self._dialect = engine.dialect
        # every series row of a moment was committed at its `as_of` (kept rows are not stamped:
        # readers substitute it), as the series table stores it
        bind = series.c.committed_at.type.dialect_impl(self._dialect).bind_processor(self._dialect)
        self.committed_at: Any = bind(as_of) if bind is not None else as_of
        self._rows: dict[str, list[Row]] = {}
        self._indicators: dict[str, IndikatorDocument] = {}
        self._goals: dict[str, EtappmalDocument] = {}
        self._lock = threading.Lock()  # one projection at a time; kept kinds read under it too
        _OF[engine] = self

    def rows(self, table: Table) -> list[Row]:
        """The rows of `table` as a read of it gives them back, projected on first demand."""
        with self._lock:
            if table.name not in self._rows:
                self._project(KIND_OF[table.name])
            stored = self._rows[table.name]
        return _read(self._dialect, table, stored)

    @property
    def projected(self) -> set[str]:
        """The kinds projected so far."""
        with self._lock:
            return {KIND_OF[name] for name in self._rows}

    def _project(self, kind: str) -> None:
        if kind == "namnd" and indicator_status.name not in self._rows:
            self._project("status")  # a nämnd's rollup reads the indicators' and etappmål's
        made: dict[str, Callable[[Connection], list[Row]]] = {
            "status": self._status,
            "namnd": self._namnder,
            "risk": self._risk,
        }
        with self.engine.connect() as conn:
            found = made[kind](conn)
        for table in KINDS[kind]:
            self._rows[table.name] = [
                _as_stored(self._dialect, table, row) for row in found if row["_table"] is table
            ]

    def _status(self, conn: Connection) -> list[Row]:
        """As `Projector.refresh` of every indicator: their city summaries and the etappmål."""
        catalog, now = self.catalog, self.as_of
        touched = sorted(catalog.indicator)
        self._indicators = {i: self.projector._indikator_summary(conn, i, now) for i in touched}
        goals = sorted({g.id for i in touched for g in catalog.goals_of_indicator(i)})
        self._goals = {g: etappmal_summary(catalog, g, self._indicators) for g in goals}
        rows = [
            {"_table": indicator_status, **status_row(d, catalog.root, TOTAL, now)}
            for d in self._indicators.values()
        ]
        rows += [
            {"_table": etappmal_status, **_etappmal_row(g, d, now)} for g, d in self._goals.items()
        ]
        return rows

    def _namnder(self, conn: Connection) -> list[Row]:
        """As `Projector.refresh`: every nämnd's rollup, the areas' values beside the city's."""
        values = self.projector._area_values(conn)
        rows = []
        for n in self.catalog.namnder:
            d = namnd_summary(
                self.catalog, n.id, self._indicators, self._goals, values.get(n.area or "", {})
            )
            rows.append(
                {
                    "_table": namnd_rollup,
                    "namnd": n.id,
                    "counts": d["counts"],
                    "document": d,
                    "preliminary": not d["published"],
                    "computed_at": self.as_of,
                }
            )
        return rows

    def _risk(self, conn: Connection) -> list[Row]:
        """As `Projector.refresh`: the social-risk index (none without a risk indicator)."""
        if not self.projector.risk_ids:
            return []
        docs, preliminary = self.projector.risk_documents(conn)
        return [{"_table": risk_index, **_risk_row(d, self.as_of, preliminary)} for d in docs]


def _as_stored(dialect: Dialect, table: Table, row: Row) -> Row:
    """A row as written to `table`: every column (a missing one its default) in the dialect's
    storage format; a float column's integers as floats (SQLite's REAL affinity)."""
    stored: Row = {}
    for column in table.columns:
        value = row.get(column.name)
        if column.name not in row and column.default is not None:
            value = getattr(column.default, "arg", None)
        impl = column.type.dialect_impl(dialect)
        if value is not None and isinstance(impl, Float):
            value = float(value)
        bind = impl.bind_processor(dialect)
        stored[column.name] = bind(value) if value is not None and bind is not None else value
    return stored


def _read(dialect: Dialect, table: Table, stored: list[Row]) -> list[Row]:
    """Stored rows as a read of `table` gives them back: new objects every time, so that no
    answer sees what another did to its rows."""
    results = []
    for column in table.columns:
        result = column.type.dialect_impl(dialect).result_processor(dialect, None)
        results.append((column.name, result))
    return [
        {
            name: result(row[name]) if result is not None and row[name] is not None else row[name]
            for name, result in results
        }
        for row in stored
    ]
