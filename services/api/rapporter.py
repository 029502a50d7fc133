"""Frozen reports: a named knowledge time whose answers never change (`stadspuls rapport freeze`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from services.api.past import Position, last_version_id, positions
from shared.db.catalog_versions import catalog_answering
from shared.db.schema import rapporter, read_model_state
from shared.domain.observation import as_utc


class RapportError(ValueError):
    """A report that cannot be frozen: the reason names the field."""


@dataclass(frozen=True)
class Rapport:
    """One frozen report."""

    id: str
    title: str | None
    as_of: datetime
    frozen_at: datetime
    last_version_id: int
    catalog_sha256: str | None
    positions: tuple[Position, ...] | None = None


def _of(row: object) -> Rapport:
    r = row._mapping  # type: ignore[attr-defined]
    return Rapport(
        r["id"],
        r["title"],
        as_utc(r["as_of"]),
        as_utc(r["frozen_at"]),
        int(r["last_version_id"]),
        r["catalog_sha256"],
        None
        if r["positions"] is None
        else tuple((t, int(p), int(o)) for t, p, o in r["positions"]),
    )


def freeze(engine: Engine, id: str, as_of: datetime, title: str | None, now: datetime) -> Rapport:
    """Freeze report `id` at knowledge time `as_of`: the versions and catalog known then."""
    if not id or len(id) > 100 or "/" in id or id.strip() != id:
        raise RapportError(f"ID: {id!r} must be 1–100 characters without '/' or outer spaces")
    if as_of.tzinfo is None:
        raise RapportError("--as-of: give a time zone (RFC 3339, e.g. 2025-09-01T00:00:00Z)")
    if as_of > now:
        raise RapportError(f"--as-of: {as_of.isoformat()} is in the future")
    if find(engine, id) is not None:
        raise RapportError(f"ID: report {id!r} is frozen already; a report never changes")
    in_force = catalog_answering(engine, as_of)
    # every version recorded now is counted if received by as_of; a later one never is
    sha = in_force[0] if in_force else None
    last = last_version_id(engine)
    rapport = Rapport(id, title, as_utc(as_of), now, last, sha, positions(engine, last))
    with engine.begin() as conn:
        stored = vars(rapport) | {"positions": [list(p) for p in rapport.positions or ()]}
        conn.execute(insert(rapporter).values(**stored))
        revision = read_model_state.c.revision + 1  # the list of reports changed: new ETags
        conn.execute(update(read_model_state).values(revision=revision))
    return rapport


def find(engine: Engine, id: str) -> Rapport | None:
    """The report of that id, if it was frozen."""
    with engine.connect() as conn:
        row = conn.execute(select(rapporter).where(rapporter.c.id == id)).first()
    return _of(row) if row is not None else None


def list_rapporter(engine: Engine) -> list[Rapport]:
    """Every frozen report, by knowledge time, then id."""
    with engine.connect() as conn:
        rows = conn.execute(select(rapporter).order_by(rapporter.c.as_of, rapporter.c.id))
        return [_of(row) for row in rows]
