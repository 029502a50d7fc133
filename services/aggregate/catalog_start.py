"""A changed catalog takes effect when the aggregator starts (`stadspuls serve aggregate`).

The catalog in force (the newest recorded) is compared with the one the worker starts with
(`shared.catalog.diff`). In one transaction the rollups of every stored period whose area tree
changed are re-projected from their winners (`shared.readmodel.reproject`), every summary is
recomputed with the new baselines, targets, cadences and coverage floors, and the new catalog is
recorded as in force from now. A crash before the commit changes nothing, and the next start does
it again. What only `stadspuls rebuild` can do (an indicator's kind, unit, levels, genders or
period type changed) is logged, not done. Workers still running the old catalog would roll new
batches up in the old tree: stop them all before starting the first worker with a new catalog.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from shared.catalog.diff import Change, Effect, catalog_diff, needs, tree_changed
from shared.catalog.loader import CatalogLoadError, load_catalog_text
from shared.db.catalog_versions import CatalogVersion, digest_of, insert_catalog, newest_catalog
from shared.domain.catalog import Catalog
from shared.domain.observation import as_utc
from shared.readmodel.projections import Projector
from shared.readmodel.reproject import Reprojected, reproject_rollups, stored_periods

log = logging.getLogger("stadspuls.aggregate.catalog")
CATALOG_LOCK = 0x5354_4341  # pg_advisory_xact_lock key of a catalog taking effect ("STCA")


@dataclass(frozen=True)
class CatalogStart:
    """What starting with a catalog did: the one in force, its changes, what was re-projected."""

    version: CatalogVersion
    changes: list[Change] = field(default_factory=list)
    reprojected: Reprojected | None = None
    summaries: int = 0  # indicators whose summaries were recomputed


def take_effect(engine: Engine, path: Path, catalog: Catalog, now: datetime) -> CatalogStart:
    """Make the catalog at `path` (loaded as `catalog`) the one in force, re-projecting what it
    changes; nothing when it is in force already."""
    text_ = path.read_text(encoding="utf-8")
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # workers starting together: one does the work
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CATALOG_LOCK})
        newest = newest_catalog(conn)
        if newest is not None and newest.sha256 == digest_of(text_):
            return CatalogStart(
                CatalogVersion(newest.sha256, as_utc(newest.effective_at), newest.path)
            )
        old = _previous(newest.text) if newest is not None else None
        done = _reproject(conn, old, catalog, now) if old is not None else ([], None, 0)
        version = insert_catalog(conn, path, text_, now)
    return CatalogStart(version, *done)


def _reproject(
    conn: Connection, old: Catalog, new: Catalog, now: datetime
) -> tuple[list[Change], Reprojected | None, int]:
    changes = catalog_diff(old, new)
    effects = {c.effect for c in changes}
    reprojected, summaries = None, 0
    if Effect.ROLLUPS in effects:
        periods = [p for p in stored_periods(conn) if tree_changed(old, new, p)]
        reprojected = reproject_rollups(conn, new, periods, now)
    if effects & {Effect.ROLLUPS, Effect.REPROJECT, Effect.REBUILD}:
        projector = Projector(new)
        projector.refresh(conn, new.indicator, now)
        projector.refresh_areas(conn, None, now)
        summaries = len(new.indicator)
    return changes, reprojected, summaries


def _previous(recorded: str) -> Catalog | None:
    """The catalog in force until now, unless this code can no longer read it."""
    try:
        return load_catalog_text(recorded)
    except CatalogLoadError as exc:
        log.warning("the catalog in force cannot be read (%s): nothing re-projected", exc)
        return None


def report(start: CatalogStart) -> None:
    """Log what taking effect changed and what it left to `stadspuls rebuild`."""
    version = start.version
    log.info("catalog %s in force since %s", version.sha256[:12], version.effective_at)
    if not start.changes:
        return
    log.info("the catalog changed in %d way(s):", len(start.changes))
    for change in start.changes:
        log.info("  %s", change)
    if start.reprojected is not None:
        log.info("rollups re-projected: %s", start.reprojected)
    if start.summaries:
        log.info("summaries of %d indicator(s) re-projected", start.summaries)
    if needs(start.changes) is Effect.REBUILD:
        log.warning("some changes need `stadspuls rebuild` before the read model shows them")
