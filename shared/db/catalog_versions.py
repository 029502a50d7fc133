"""The record of every catalog the aggregator has run with: its hash and when it took effect."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Row, insert, select

from shared.db.schema import catalog_versions
from shared.domain.observation import as_utc


class CatalogVersion(NamedTuple):
    """One catalog in force from `effective_at` until the next one's."""

    sha256: str
    effective_at: datetime
    path: str


def record_catalog(
    engine: Engine, path: Path, now: datetime, only_if_none: bool = False
) -> CatalogVersion:
    """Record the catalog at `path` unless it is the one in force already (or, `only_if_none`,
    unless any is recorded); return the one in force."""
    text = path.read_text(encoding="utf-8")
    with engine.begin() as conn:
        newest = newest_catalog(conn)
        if newest is not None and (only_if_none or newest.sha256 == digest_of(text)):
            return CatalogVersion(newest.sha256, as_utc(newest.effective_at), newest.path)
        return insert_catalog(conn, path, text, now)


def digest_of(text: str) -> str:
    """The hash a catalog's text is recorded under."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def newest_catalog(conn: Connection) -> Row[Any] | None:
    """The newest recorded catalog's row (sha256, effective_at, path, text), if any."""
    query = select(catalog_versions).order_by(catalog_versions.c.version_id.desc()).limit(1)
    return conn.execute(query).first()


def insert_catalog(conn: Connection, path: Path, text: str, now: datetime) -> CatalogVersion:
    """Record a catalog as in force from `now`."""
    digest = digest_of(text)
    conn.execute(
        insert(catalog_versions).values(sha256=digest, effective_at=now, path=str(path), text=text)
    )
    return CatalogVersion(digest, now, str(path))


def catalog_history(engine: Engine) -> list[CatalogVersion]:
    """Every recorded catalog, oldest first."""
    c = catalog_versions.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.sha256, c.effective_at, c.path).order_by(c.version_id))
        return [CatalogVersion(r.sha256, as_utc(r.effective_at), r.path) for r in rows]


def catalog_in_force(engine: Engine, moment: datetime) -> tuple[str, str] | None:
    """(sha256, text) of the catalog in force at `moment`: the newest that took effect by then."""
    c = catalog_versions.c
    query = (
        select(c.sha256, c.text)
        .where(c.effective_at <= as_utc(moment))  # stored in UTC (as text, on SQLite)
        .order_by(c.effective_at.desc(), c.version_id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return (row.sha256, row.text) if row is not None else None


def catalog_answering(engine: Engine, moment: datetime) -> tuple[str, str] | None:
    """(sha256, text) of the catalog the answers of `moment` are computed with: the one in force
    then, else the first recorded (a moment before the services recorded any: the nearest known
    to it, and one that no later catalog changes, so a report frozen then keeps its bytes); None
    when none was ever recorded."""
    found = catalog_in_force(engine, moment)
    if found is not None:
        return found
    c = catalog_versions.c
    query = select(c.sha256, c.text).order_by(c.effective_at, c.version_id).limit(1)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return (row.sha256, row.text) if row is not None else None


def catalog_text(engine: Engine, sha256: str) -> str | None:
    """The recorded text of the catalog with this hash, if it was recorded."""
    query = select(catalog_versions.c.text).where(catalog_versions.c.sha256 == sha256).limit(1)
    with engine.connect() as conn:
        return conn.execute(query).scalar()
