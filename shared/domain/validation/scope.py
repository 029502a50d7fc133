"""What rows are judged against (`Scope`), what a passing row becomes (`ValidRow`), the constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from shared.domain.catalog import RATIO_SCALE as RATIO_SCALE  # units of scale·numerator/denominator
from shared.domain.catalog import Catalog, Gender
from shared.domain.observation import ObservationStatus
from shared.domain.validation.plausibility import RATIO_TOLERANCE as RATIO_TOLERANCE

#: The fields a source may send; anything else is `unknown_field`.
FIELDS = frozenset(
    {
        "indicator",
        "area",
        "period",
        "gender",
        "value",
        "numerator",
        "denominator",
        "status",
        "updated_at",
        "comment",
        "retract",
        "observation_id",
    }
)
#: Set by the ingest service, never taken from a source.
RESERVED = frozenset({"source", "received_at", "schema"})
#: Most (indicator, area, period) judgements kept per source and day; then they start afresh.
MAX_PLACED = 200_000
GENDERS = frozenset(gender.value for gender in Gender)
STATUSES = frozenset(status.value for status in ObservationStatus)


@dataclass(frozen=True, slots=True)
class ValidRow:
    """A row that passed: its normalised fields (JSON-native) and its series key."""

    row: int
    key: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Scope:
    """What a row is judged against: the catalog, the sending source and the clock.

    `memo` remembers parsed periods and timestamps for this scope's clock (rows of a batch repeat them);
    `placed` the (indicator, area, period) the source may write on this day (`Scopes` hands the
    same one to every scope of a source and day).
    """

    catalog: Catalog
    source: str
    allowed: frozenset[str]
    now: datetime
    today: date
    memo: dict[object, Any] = field(default_factory=dict, compare=False, repr=False)
    placed: dict[tuple[str, str, str], Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        catalog: Catalog,
        source: str,
        now: datetime,
        allowed: frozenset[str] | None = None,
        placed: dict[tuple[str, str, str], Any] | None = None,
    ) -> Scope:
        """The scope of `source` at time `now` (aware; its UTC date is "today")."""
        now = now.astimezone(UTC)
        if allowed is None:
            allowed = allowed_indicators(catalog, source)
        return cls(
            catalog, source, allowed, now, now.date(), placed={} if placed is None else placed
        )


class Scopes:
    """The scopes of one catalog's sources, as every ingest path gets them.

    Each source's indicators are worked out once; the last scope of each source is kept while the
    clock stands still (a poll of the raw topic, a retry received "when the first attempt was"),
    so its memo serves all the rows judged at that moment.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._allowed: dict[str, frozenset[str]] = {}
        self._last: dict[str, Scope] = {}
        self._placed: dict[str, tuple[date, dict[tuple[str, str, str], Any]]] = {}

    def knows(self, source: str) -> bool:
        """Whether `source` is a source (källa) of the catalog."""
        return source in self.catalog.source

    def __call__(self, source: str, now: datetime) -> Scope:
        """The scope of `source` at time `now`."""
        scope = self._last.get(source)
        if scope is None or scope.now != now.astimezone(UTC):
            allowed = self._allowed.get(source)
            if allowed is None:
                allowed = self._allowed[source] = allowed_indicators(self.catalog, source)
            day = now.astimezone(UTC).date()
            kept = self._placed.get(source)
            if kept is None or kept[0] != day or len(kept[1]) > MAX_PLACED:
                kept = self._placed[source] = (day, {})
            scope = Scope.of(self.catalog, source, now, allowed, kept[1])
            self._last[source] = scope
        return scope


def allowed_indicators(catalog: Catalog, source: str) -> frozenset[str]:
    """Indicators `source` may write: those its källa lists plus those that list it as a source."""
    listed = catalog.source[source].indicators if source in catalog.source else ()
    claimed = (i.id for i in catalog.indikatorer if source in i.sources)
    return frozenset((*listed, *claimed))
