"""Dialect-aware bulk upserts for the read model (PostgreSQL and SQLite)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Dialect,
    Float,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeEngine

CHUNK = 500


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """Split a sequence into slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT in the connection's dialect, which knows `ON CONFLICT` (PostgreSQL or SQLite)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, replacing the given non-key columns of rows whose primary key exists."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    stmt = insert(conn, table)
    updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates), list(rows))


def sqlite_datetime(value: datetime) -> str:
    """A datetime as SQLAlchemy stores it on SQLite (its wall time, microseconds, no zone), made
    by the C `isoformat` instead of a Python format per value (a third of a bulk load's time)."""
    return value.isoformat(" ", "microseconds")[:26]


class _LastDatetime:
    """`sqlite_datetime` of one column, remembering the last datetime object it was given: rows
    of a batch or of a rebuild share theirs (every version row its `recorded_at`), and making
    the text was 5–8 % of a rebuild process's time. Held as one tuple, replaced whole, so threads
    sharing it never pair a value with another's text; `is` holds the object it compares with
    alive, so its identity cannot be reused by another."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: tuple[datetime | None, str] = (None, "")

    def __call__(self, value: datetime) -> str:
        last = self.last
        if last[0] is value:
            return last[1]
        text = value.isoformat(" ", "microseconds")[:26]
        self.last = (value, text)
        return text


# PostgreSQL's names of the types of our columns, for a binary COPY (most specific first)
BINARY_TYPES: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
    (BigInteger, "int8"),
    (Integer, "int4"),
    (Float, "float8"),
    (Boolean, "bool"),
    (DateTime, "timestamptz"),
    (Text, "text"),
    (String, "varchar"),
)


def _binary_type(column_type: TypeEngine[Any]) -> str:
    for kind, name in BINARY_TYPES:
        if isinstance(column_type, kind):
            if kind is DateTime and not column_type.timezone:  # type: ignore[attr-defined]
                return "timestamp"
            return name
    raise TypeError(f"no binary COPY type for a column of type {column_type!r}")


def _plain_datetime(impl: Any) -> bool:
    """A SQLite DATETIME in SQLAlchemy's default storage format (which `sqlite_datetime` makes)."""
    return (
        isinstance(impl, sqlite.DATETIME)
        and impl._storage_format == sqlite.DATETIME._storage_format
    )


class RawTable:
    """Keyed reads and upserts of one table straight on the driver, for the aggregator's hot path.

    SQLAlchemy's per-row parameter and result processing costs more than the database work for
    thousands of small rows per batch, so rows travel as plain tuples in `columns` order; the
    dialect's own type processors (SQLite's datetime and boolean storage) keep the stored values
    identical to what SQLAlchemy itself writes and reads. Statements run on the connection's
    current transaction.
    """

    def __init__(
        self, table: Table, columns: Sequence[str], dialect: Dialect, read: int | None = None
    ) -> None:
        """`columns` are written by `upsert`; the first `read` of them (all) come back from `fetch`."""
        self.table, self.columns, self.dialect = table, list(columns), dialect
        self.read = self.columns[: len(self.columns) if read is None else read]
        self.keys = [c.name for c in table.primary_key.columns]
        impls = [table.c[name].type.dialect_impl(dialect) for name in self.columns]
        self.postgres = dialect.name == "postgresql"
        # psycopg adapts every type of ours natively, both ways; SQLite needs SQLAlchemy's own
        # storage formats (datetimes as text, booleans as 0/1), applied only where there is one.
        self.bind_at: list[tuple[int, Any]] = []
        self.result_at: list[tuple[int, Any]] = []
        if not self.postgres:
            for i, impl in enumerate(impls):
                bind = impl.bind_processor(dialect)
                result = impl.result_processor(dialect, None) if i < len(self.read) else None
                if _plain_datetime(impl):
                    self.bind_at.append((i, _LastDatetime()))
                elif bind is not None and not isinstance(impl, Float):  # floats stay floats
                    self.bind_at.append((i, bind))
                if result is not None:
                    self.result_at.append((i, result))
        names = ", ".join(self.columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.columns if c not in self.keys)
        conflict = f"ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {updates}"
        self.copy_sql = f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)"
        self.copy_types = (
            [_binary_type(table.c[c].type) for c in self.columns] if self.postgres else []
        )
        if self.postgres:
            types = [table.c[c].type.compile(dialect) for c in self.columns]
            arrays = ", ".join(f"%s::{t}[]" for t in types)
            key_types = ", ".join(f"%s::{table.c[k].type.compile(dialect)}[]" for k in self.keys)
            self.upsert_sql = (
                f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays}) {conflict}"
            )
            self.insert_sql = (
                f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays}) "
                "ON CONFLICT DO NOTHING"
            )
            on = " AND ".join(f"t.{k} = k.{k}" for k in self.keys)
            self.select_sql = (
                f"SELECT {', '.join('t.' + c for c in self.read)} FROM "
                f"unnest({key_types}) AS k({', '.join(self.keys)}) "
                f"JOIN {table.name} AS t ON {on}"
            )
        else:
            marks = ", ".join("?" for _ in self.columns)
            self.upsert_sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks}) {conflict}"
            self.insert_sql = (
                f"INSERT INTO {table.name} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
            )
            where = " AND ".join(f"{k} = ?" for k in self.keys)
            self.select_sql = f"SELECT {', '.join(self.read)} FROM {table.name} WHERE {where}"

    def fetch(self, conn: Connection, keys: Sequence[tuple[Any, ...]]) -> list[Sequence[Any]]:
        """The rows whose primary keys are `keys`, their `read` columns (missing keys are skipped)."""
        if not keys:
            return []
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.postgres:
                cursor.execute(self.select_sql, [list(col) for col in zip(*keys, strict=True)])
                found = cursor.fetchall()
            else:  # SQLite runs in-process: one indexed lookup per key beats any IN list
                found = []
                for key in keys:
                    cursor.execute(self.select_sql, key)
                    found.extend(cursor.fetchall())
        finally:
            cursor.close()
        return [self._decode(record) for record in found]

    def upsert(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert the rows, replacing every non-key column of rows that exist."""
        self._write(conn, self.upsert_sql, rows)

    def insert_new(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert the rows, in order, skipping every row that conflicts with one stored."""
        self._write(conn, self.insert_sql, rows)

    def _write(self, conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        encoded = [self.encode(row) for row in rows]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.postgres:  # one statement over arrays instead of one per row
                cursor.execute(sql, [list(col) for col in zip(*encoded, strict=True)])
            else:
                cursor.executemany(sql, encoded)
        finally:
            cursor.close()

    def load(self, conn: Connection, rows: Iterable[Sequence[Any]], encoded: bool = False) -> None:
        """Insert rows in bulk, none of whose keys exist (into an emptied table, say): COPY on
        PostgreSQL, one prepared INSERT run over them all on SQLite (`encoded`: each row has
        been through `encode`)."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.postgres:
                with cursor.copy(self.copy_sql) as copy:
                    copy.set_types(self.copy_types)  # binary: no text formatting of numbers
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(
                    self.insert_sql, rows if encoded else (self.encode(row) for row in rows)
                )
        finally:
            cursor.close()

    def encode(self, row: Sequence[Any]) -> Sequence[Any]:
        """A row as the driver is handed it (SQLite's storage formats applied)."""
        if not self.bind_at:
            return row
        values = list(row)
        for i, process in self.bind_at:
            if values[i] is not None:
                values[i] = process(values[i])
        return values

    def _decode(self, record: Sequence[Any]) -> Sequence[Any]:
        if not self.result_at:
            return record
        values = list(record)
        for i, process in self.result_at:
            if values[i] is not None:
                values[i] = process(values[i])
        return values
