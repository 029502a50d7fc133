"""Planner statistics of the read model on PostgreSQL, kept up while its tables grow fast.

PostgreSQL plans every query from statistics that only `ANALYZE` gathers. Autovacuum runs it, but
only a minute (`autovacuum_naptime`) after it last looked, and a read-model table fills from
nothing in seconds: a fresh deployment's first load, or the batch rebuild's `COPY` of a million
versions. Until then the planner guesses, from default selectivities, that a query of thousands
of rows returns one, and picks a nested loop: the projections' query of the stadsdelsnämnd areas'
values beside the city's took 370 ms on the API benchmark's data set where, planned from
statistics, it takes 9 ms, so every city status waited on it.

`Statistics.keep` analyzes a table of `MIN_ROWS` or more whose statistics describe less than half
of it: never analyzed (by anyone), or changed since in more than half as many rows as it holds
(rows inserted or updated since; a table that has more than doubled). Autovacuum's own threshold
is a tenth of the table, so where it keeps up this adds little: under a steady 1 000 updates/s of
the 65 000 series rows, one `ANALYZE` of 30–50 ms each half a minute. SQLite needs none of it
(its planner prefers the longest index prefix with no statistics at all, and plans our queries
by them), so there it does nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, Table, text
from sqlalchemy.exc import DBAPIError

from shared.db import schema

log = logging.getLogger(__name__)

MIN_ROWS = 1000  # a table smaller than this is planned well enough without statistics
CHECK_SECONDS = 2.0  # at most one look at the tables' counts per this many seconds
QUIET_SECONDS = 60.0  # a table analyzed this recently is left alone (autovacuum's naptime)
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock timeout
LOCK_TIMEOUT = "1s"  # an ANALYZE waiting longer (another one, a migration) is skipped this time
# The tables the projections and the API read, in the order they are analyzed.
TABLES: tuple[Table, ...] = (
    schema.series,
    schema.series_versions,
    schema.indicator_status,
    schema.etappmal_status,
    schema.namnd_rollup,
    schema.risk_index,
)


def stale_tables(conn: Connection, tables: Sequence[Table] = TABLES) -> list[str]:
    """The tables of `tables` whose statistics describe less than half of them (see module) and
    that this role may analyze (it owns them, or is a superuser)."""
    rows = conn.execute(
        text(
            "SELECT s.relname, s.n_live_tup, s.n_mod_since_analyze, "
            "s.last_analyze IS NULL AND s.last_autoanalyze IS NULL AS never "
            "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.schemaname = current_schema() AND s.relname = ANY(:names) "
            # only the tables' owner may analyze them (PostgreSQL skips the others, warning)
            "AND pg_has_role(c.relowner, 'USAGE') "
            # analyzed a moment ago: a rebuild's ANALYZE in its load's transaction leaves the
            # rows it loaded counted as changed since, and the worker after it would go again
            "AND coalesce(greatest(s.last_analyze, s.last_autoanalyze) "
            "< now() - make_interval(secs => :quiet), true)"
        ),
        {"names": [t.name for t in tables], "quiet": QUIET_SECONDS},
    ).all()
    counts = {r.relname: r for r in rows}
    stale = []
    for table in tables:
        r = counts.get(table.name)
        if r is None or r.n_live_tup < MIN_ROWS:
            continue
        if r.never or 2 * r.n_mod_since_analyze > r.n_live_tup:
            stale.append(table.name)
    return stale


def analyze(conn: Connection, names: Sequence[str]) -> None:
    """`ANALYZE` the named tables in the connection's transaction (their statistics commit with
    it; a table the transaction loaded is sampled with its own rows)."""
    for name in names:
        conn.execute(text(f'ANALYZE "{name}"'))  # names of our own tables, never input


class Statistics:
    """Keeps the read model's planner statistics up on PostgreSQL (module docstring)."""

    def __init__(self, engine: Engine, every: float = CHECK_SECONDS) -> None:
        self.engine = engine
        self.enabled = engine.dialect.name == "postgresql"
        self.every = every
        self._checked = -float("inf")
        self.analyzed: list[str] = []  # every table analyzed, in order (logs and tests)

    def keep(self) -> list[str]:
        """Analyze the tables that need it, at most one look per `every` seconds; which did.
        A failure is logged, never raised: statistics are an optimisation of the planner."""
        if not self.enabled or time.monotonic() - self._checked < self.every:
            return []
        self._checked = time.monotonic()
        try:
            with self.engine.begin() as conn:
                names = stale_tables(conn)
                if not names:
                    return []
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                started = time.monotonic()
                analyze(conn, names)
            log.info(
                "planner statistics gathered for %s in %.3fs (they described less than half "
                "of each table)",
                ", ".join(names),
                time.monotonic() - started,
            )
        except DBAPIError as exc:  # a lock timeout, a lost connection: try again later
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:  # another worker's
                log.info("planner statistics: another ANALYZE holds the table; later, then")
            else:
                log.warning("gathering planner statistics failed; trying again later: %s", exc)
            return []
        except Exception:  # a bug here must not fail the projections
            log.exception("gathering planner statistics failed; trying again later")
            return []
        self.analyzed.extend(names)
        return names
