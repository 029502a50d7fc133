"""What a load takes on disk: a topic's log segments on a local broker, the read model's tables in
PostgreSQL (for docs/capacity.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, text

from shared.db.engine import make_engine
from shared.db.schema import metadata


def topic_bytes(data_dir: Path, topic: str) -> int:
    """Bytes of the topic's log segments (every partition) in a broker's data directory."""
    return sum(f.stat().st_size for f in data_dir.glob(f"{topic}-*/*.log"))


@dataclass(frozen=True)
class TableSize:
    """Rows of a table and its bytes on disk, indexes and TOAST included."""

    rows: int
    bytes: int

    @property
    def per_row(self) -> float:
        """Bytes per row (0 when empty)."""
        return self.bytes / self.rows if self.rows else 0.0


def table_sizes(database_url: str) -> dict[str, TableSize]:
    """`pg_total_relation_size` and row count of every read-model table that has rows."""
    engine = make_engine(database_url)
    out = {}
    try:
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
                if rows:
                    size = conn.execute(
                        text("SELECT pg_total_relation_size(CAST(:t AS regclass))"),
                        {"t": table.name},
                    ).scalar_one()
                    out[table.name] = TableSize(int(rows), int(size))
    finally:
        engine.dispose()
    return out


def wal_position(database_url: str) -> str:
    """The server's current write-ahead-log position (every database of the cluster writes it)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one())
    finally:
        engine.dispose()


def wal_bytes_since(database_url: str, position: str) -> int:
    """Bytes of write-ahead log the server has written since `position`."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            query = text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(:p AS pg_lsn))")
            return int(conn.execute(query, {"p": position}).scalar_one())
    finally:
        engine.dispose()
