"""The durable cursor of each connector, in the SQL database (table `connector_cursors`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from shared.db.schema import connector_cursors
from shared.db.upsert import upsert
from shared.domain.observation import as_utc


@dataclass(frozen=True)
class Stored:
    """A connector's cursor and when its last successful run ended."""

    cursor: dict[str, Any]
    last_success_at: datetime


class CursorStore:
    """Reads and writes connector cursors; blocking SQL runs in a worker thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _load(self, source: str) -> Stored | None:
        query = select(connector_cursors).where(connector_cursors.c.source == source)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Stored(dict(row.cursor), as_utc(row.last_success_at))

    def _save(self, source: str, cursor: dict[str, Any], at: datetime) -> None:
        with self.engine.begin() as conn:
            row = {"source": source, "cursor": cursor, "last_success_at": at}
            upsert(conn, connector_cursors, [row])

    async def load(self, source: str) -> Stored | None:
        """The stored cursor of `source`, if it ever succeeded."""
        return await asyncio.to_thread(self._load, source)

    async def save(self, source: str, cursor: dict[str, Any], at: datetime) -> None:
        """Keep `cursor` as where the next run of `source` starts; `at` is the success time."""
        await asyncio.to_thread(self._save, source, cursor, at)
