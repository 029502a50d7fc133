"""Per-key answer revisions: what a commit changed, so that only the answers reading it move on.

Keys name what answers read: `status:<indicator>` (the city's total status of an indicator and
the etappmål and nämnder judged from it), `areas:<area>` (the projected statuses of an area other
than the city's total), `rows:<area>` (an area's series rows), `profile:<area>:<gender>` (an
area's projected profile), `series:<indicator>`, `namnder`, `risk` (the social-risk index) and
`risk:<area>` (one area's row of it). A transaction bumps its keys after it holds the state row's
lock (`bump_state`), so concurrent writers bump them in the state row's order and never wait on
each other in a cycle.
`generation` moves on when a rebuild empties the table, so no revision is ever reused.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, delete, select

from shared.db.schema import answer_revisions
from shared.db.upsert import insert

GENERATION = "generation"
Revisions = dict[str, tuple[int, datetime]]


def status_key(indicator: str) -> str:
    """The key of the city's total status of `indicator`."""
    return f"status:{indicator}"


def areas_key(area: str) -> str:
    """The key of the projected statuses of `area` other than the city's total."""
    return f"areas:{area}"


def rows_key(area: str) -> str:
    """The key of the series rows of `area`."""
    return f"rows:{area}"


def profile_key(area: str, gender: str) -> str:
    """The key of the projected profile of `area` in `gender`."""
    return f"profile:{area}:{gender}"


def risk_key(area: str) -> str:
    """The key of `area`'s row of the social-risk index (`risk`: of the whole index)."""
    return f"risk:{area}"


def series_key(indicator: str) -> str:
    """The key of the series rows of `indicator`."""
    return f"series:{indicator}"


NAMNDER = "namnder"
RISK = "risk"


def bump_answers(conn: Connection, keys: Iterable[str], now: datetime) -> None:
    """Advance the revision of every key (created at 1), in key order, stamped `now`.

    One statement run over the keys (executemany), not one multi-row VALUES per call: its SQL is
    the same whatever the number of keys, so SQLAlchemy compiles it once, not at every commit."""
    rows = [{"key": k, "revision": 1, "changed_at": now} for k in sorted(set(keys))]
    if not rows:
        return
    stmt = insert(conn, answer_revisions)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "revision": answer_revisions.c.revision + 1,
            "changed_at": stmt.excluded.changed_at,
        },
    )
    conn.execute(stmt, rows)


def reset_answers(conn: Connection, now: datetime) -> None:
    """Empty the table but for a `generation` one past the one before (a rebuild)."""
    before = conn.execute(
        select(answer_revisions.c.revision).where(answer_revisions.c.key == GENERATION)
    ).scalar()
    conn.execute(delete(answer_revisions))
    conn.execute(
        insert(conn, answer_revisions).values(
            key=GENERATION, revision=int(before or 0) + 1, changed_at=now
        )
    )


def read_revisions(conn: Connection) -> Revisions:
    """Every key's revision and when it last moved."""
    t = answer_revisions.c
    return {
        r.key: (int(r.revision), r.changed_at)
        for r in conn.execute(select(t.key, t.revision, t.changed_at))
    }
