"""Re-project the rollups of some periods from the stored winners, under another catalog.

When the area tree of a period changes, its rows' sums, coverage and child counts are wrong, but
its winners are not: which version of a series wins does not depend on the tree, and whether a
version may be applied at all depends, for a tree change, only on its series (the area exists, is
valid on the period's last day). So the rows of those periods are deleted and their winners (a
retraction too) applied again through the rollup engine, as a rebuild would end up applying them,
without replaying Kafka. A winner the new catalog cannot place (its area removed, or not valid
then) is left out, as a rebuild would send it to the dead-letter topic. Versions stay as recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from shared.db.schema import series
from shared.db.upsert import chunks
from shared.domain.catalog import Catalog, Gender
from shared.domain.observation import Observation, ObservationStatus, as_utc
from shared.domain.rollup import InvalidObservationError, SeriesId, SeriesState
from shared.readmodel.store import SeriesStore, bump_state


@dataclass(frozen=True)
class Reprojected:
    """What a re-projection did."""

    periods: tuple[str, ...]  # periods whose rollups were recomputed
    winners: int  # series whose winner was applied again
    dropped: int  # winners the catalog no longer places: their rows are gone
    rows: int  # series rows written

    def __str__(self) -> str:
        shown = ", ".join(self.periods[:8]) + (", …" if len(self.periods) > 8 else "")
        return (
            f"{len(self.periods)} period(s) ({shown or 'none'}): {self.winners} winners applied "
            f"again, {self.dropped} no longer placed, {self.rows} series rows written"
        )


def stored_periods(conn: Connection) -> list[str]:
    """Every period the read model holds a row of."""
    return sorted(conn.execute(select(series.c.period).distinct()).scalars())


def reproject_rollups(
    conn: Connection, catalog: Catalog, periods: Iterable[str], now: datetime
) -> Reprojected:
    """Recompute every row of `periods` from their stored winners with `catalog`, in `conn`."""
    chosen = tuple(sorted(set(periods)))
    if not chosen:
        return Reprojected((), 0, 0, 0)
    store = SeriesStore(conn.engine, catalog)
    winners = sorted(_winners(conn, chosen), key=lambda o: o.version)
    for part in chunks(chosen):
        conn.execute(delete(series).where(series.c.period.in_(part)))
    rows: dict[SeriesId, SeriesState] = {}
    dropped = 0
    for obs in winners:
        try:
            store.rollup.apply(rows, obs)
        except InvalidObservationError:
            dropped += 1
    store.write(conn, rows.values(), now)
    bump_state(conn, committed_at=now)  # answers changed: new ETags, and changed_since sees them
    return Reprojected(chosen, len(winners) - dropped, dropped, len(rows))


def _winners(conn: Connection, periods: Sequence[str]) -> list[Observation]:
    """The winning version of every series of `periods`, as the observation it was."""
    c = series.c
    found = []
    for part in chunks(periods):
        query = select(series).where(c.period.in_(part), c.observation_id.is_not(None))
        for row in conn.execute(query):
            found.append(
                Observation(
                    observation_id=row.observation_id,
                    source=row.source,
                    received_at=as_utc(row.received_at),
                    updated_at=as_utc(row.updated_at),
                    indicator=row.indicator,
                    area=row.area,
                    period=row.period,
                    gender=Gender(row.gender),
                    value=None if row.retracted else row.reported_value,
                    numerator=None if row.retracted else row.reported_numerator,
                    denominator=None if row.retracted else row.reported_denominator,
                    status=ObservationStatus(row.reported_status or "final"),
                    comment=row.comment,
                    retract=row.retracted,
                )
            )
    return found
