"""The area tree of one day: which areas are valid then, each one's parent and children.

Pure: no I/O. Areas and their parent links carry `valid_from` / `valid_to` (inclusive); the tree
changes only on the days some validity starts or ends, so a tree is built once per stretch of days
between such changes (a tree version, named by its first day) and shared by every day in it.
Rollups of a period use the tree of the period's last day (`tree_of_period`).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property, lru_cache

from shared.domain.catalog import AreaLevel, Catalog, Omrade
from shared.domain.periods import parse_period

YTTERSTADEN = "ytterstaden"
FOKUSOMRADEN = "fokusomraden"
VIRTUAL_FLAGS = {YTTERSTADEN: "ytterstad", FOKUSOMRADEN: "fokus"}


@dataclass(frozen=True)
class AreaTree:
    """The tree valid over a stretch of days starting on `since` (None: since always)."""

    since: date | None
    parent: dict[str, str]  # valid non-root area -> its parent then
    valid: frozenset[str]  # every area valid then (the root included)
    members: dict[str, tuple[str, ...]]  # virtual area -> its valid member stadsdelsområden

    @cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        """Direct children of every valid area; virtual areas' are their member stadsdelsområden."""
        kids: dict[str, list[str]] = {a: [] for a in self.valid}
        for child, parent in self.parent.items():
            kids[parent].append(child)
        return {k: tuple(v) for k, v in kids.items()} | self.members

    @property
    def name(self) -> str:
        """The version's name: its first day, or `initial` for the earliest."""
        return self.since.isoformat() if self.since else "initial"


class AreaTrees:
    """Every tree version of a catalog, looked up by day."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        starts = {d for a in catalog.omraden for d in _boundaries(a)}
        self.starts = sorted(starts)
        self._trees: dict[date | None, AreaTree] = {}

    def version(self, day: date) -> date | None:
        """The first day of the tree version `day` falls in (None: the earliest version)."""
        k = bisect_right(self.starts, day)
        return self.starts[k - 1] if k else None

    def on(self, day: date) -> AreaTree:
        """The tree valid on `day`."""
        since = self.version(day)
        tree = self._trees.get(since)
        if tree is None:
            tree = self._trees[since] = self._build(since, day)
        return tree

    def _build(self, since: date | None, day: date) -> AreaTree:
        areas = [a for a in self.catalog.omraden if a.valid_on(day)]
        parent = {a.id: link.id for a in areas for link in a.links if link.valid_on(day)}
        members = {
            virtual: tuple(
                a.id for a in areas if a.level is AreaLevel.STADSDELSOMRADE and getattr(a, flag)
            )
            for virtual, flag in VIRTUAL_FLAGS.items()
        }
        return AreaTree(since, parent, frozenset(a.id for a in areas), members)


@lru_cache(maxsize=4096)  # the aggregator asks for the same few periods over and over
def last_day(period: str) -> date:
    """The last day of a period: the day whose tree its rollups use."""
    return parse_period(period).end - timedelta(days=1)


def valid_in(area: Omrade, period: str) -> bool:
    """True when the area is in the period's tree (valid on its last day): it may have values."""
    return area.valid_on(last_day(period))


def tree_of_period(catalog: Catalog, period: str) -> AreaTree:
    """The tree a period's rollups use: the one valid on its last day."""
    return catalog.trees.on(last_day(period))


def _boundaries(area: Omrade) -> list[date]:
    """Days on which the area or one of its links starts or stops being valid."""
    spans = [area, *area.parents]
    days = [s.valid_from for s in spans if s.valid_from is not None]
    days += [s.valid_to + timedelta(days=1) for s in spans if s.valid_to not in (None, date.max)]
    return days
