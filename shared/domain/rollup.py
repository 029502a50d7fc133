"""Streaming rollups up the area tree, applied one observation at a time.

Per series the version with the greatest (updated_at, observation_id) wins; a retraction is a version
too. Each area row keeps the sums of its children's contributions; a change to a row retracts its old
contribution from every parent and adds the new one, level by level, so nothing is recomputed whole.
Ratio indicators sum numerators and denominators, counts sum values, levels are not rolled up. A value
reported for a parent wins over the computed one; both are kept. Each period rolls up in the area
tree valid on its last day (`shared.domain.areas`): its parents, children and virtual members. Beside the sums each row counts the
children whose contribution is preliminary (reported so, or computed from such children), so a
computed value with any preliminary contribution is preliminary itself, whatever the order.

The engine works on `SeriesState`s held in a mapping the caller supplies (a dict in tests and in the
oracle's comparisons, rows prefetched from SQL in the aggregator); `keys_for` names every row an
observation may touch so that the caller can load them first.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, NamedTuple, TypeAlias

from shared.domain.areas import FOKUSOMRADEN as FOKUSOMRADEN
from shared.domain.areas import YTTERSTADEN as YTTERSTADEN
from shared.domain.areas import AreaTree, tree_of_period
from shared.domain.catalog import AreaLevel, Catalog, Indikator, Kind
from shared.domain.observation import Observation, ObservationStatus
from shared.domain.periods import parse_period
from shared.domain.validation.codes import Problem
from shared.domain.validation.event import judge_event

VIRTUAL: Literal["virtual"] = "virtual"
#: The level of a row: its area's level in the tree, or virtual (ytterstaden, fokusomraden).
SeriesLevel: TypeAlias = AreaLevel | Literal["virtual"]
SERIES_LEVELS = frozenset({*(level.value for level in AreaLevel), VIRTUAL})

SeriesId = tuple[str, str, str, str]  # indicator, area, period, gender
PRELIMINARY = ObservationStatus.PRELIMINARY.value


class Outcome(StrEnum):
    """What applying one observation did."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    SUPERSEDED = "superseded"
    INVALID = "invalid"


Version = tuple[datetime, str]  # (updated_at, observation_id): the greatest wins


def arrival(winner: Version | None, version: Version) -> Outcome:
    """What a version arriving does to its series' winner: a repeat of the winner's
    observation_id is a duplicate, a lesser version is superseded, else it is applied."""
    if winner is None:
        return Outcome.APPLIED
    if winner[1] == version[1]:
        return Outcome.DUPLICATE
    return Outcome.SUPERSEDED if version < winner else Outcome.APPLIED


class InvalidObservationError(ValueError):
    """An observation that breaks the rules of an event: `problems` says which, with their codes."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.code.value}: {p.message}" for p in problems))


class Origin(StrEnum):
    """Where a row's visible value comes from."""

    REPORTED = "reported"
    COMPUTED = "computed"


@dataclass
class SeriesState:
    """The state of one series; mirrors a row of the `series` table."""

    indicator: str
    area: str
    period: str
    gender: str
    area_level: str
    period_start: float
    observation_id: str | None = None
    source: str | None = None
    updated_at: datetime | None = None
    received_at: datetime | None = None
    reported_value: float | None = None
    reported_numerator: float | None = None
    reported_denominator: float | None = None
    reported_status: str | None = None
    retracted: bool = False
    comment: str | None = None
    sum_numerator: float = 0.0
    sum_denominator: float = 0.0
    sum_value: float = 0.0
    n_reporting: int = 0
    n_children: int = 0
    n_preliminary: int = 0  # contributing children whose contribution is preliminary

    @property
    def id(self) -> SeriesId:
        """The row's key."""
        return (self.indicator, self.area, self.period, self.gender)

    @property
    def has_reported(self) -> bool:
        """True when a reported value (not a retraction) currently wins."""
        return self.observation_id is not None and not self.retracted

    @property
    def reported_preliminary(self) -> bool:
        """True when the winning reported value is preliminary."""
        return self.has_reported and self.reported_status == PRELIMINARY


class Contribution(NamedTuple):
    """What one row adds to its parents: numerator and denominator (ratio) or value (count).

    A named tuple, not a frozen dataclass: one is made per row and parent of every observation.
    """

    numerator: float = 0.0
    denominator: float = 0.0
    value: float = 0.0
    preliminary: bool = False


@dataclass(frozen=True)
class Visible:
    """The value a reader sees for a row."""

    value: float | None
    numerator: float | None
    denominator: float | None
    origin: Origin | None
    computed_value: float | None
    coverage: float | None
    preliminary: bool = False  # the value is preliminary or has a preliminary contribution


def ratio_value(indicator: Indikator, numerator: float, denominator: float) -> float | None:
    """The share Σnumerator/Σdenominator in the indicator's unit (×100 for percent); None when undefined."""
    if denominator == 0:
        return None
    return indicator.ratio_scale * numerator / denominator


def contribution(indicator: Indikator, row: SeriesState) -> Contribution | None:
    """A row's contribution to its parents: reported if any, else computed, else nothing."""
    kind = indicator.kind
    if kind is Kind.LEVEL:
        return None
    if row.observation_id is not None and not row.retracted:  # `has_reported`, on the hot path
        preliminary = row.reported_status == PRELIMINARY
        if kind is Kind.RATIO:
            return Contribution(
                row.reported_numerator or 0.0, row.reported_denominator or 0.0, 0.0, preliminary
            )
        return Contribution(value=row.reported_value or 0.0, preliminary=preliminary)
    if row.n_reporting > 0:
        return Contribution(
            row.sum_numerator, row.sum_denominator, row.sum_value, row.n_preliminary > 0
        )
    return None


def visible(indicator: Indikator, row: SeriesState) -> Visible:
    """What the read model shows for a row: reported wins over computed."""
    computed: float | None = None
    if row.n_reporting > 0:
        if indicator.kind is Kind.RATIO:
            computed = ratio_value(indicator, row.sum_numerator, row.sum_denominator)
        elif indicator.kind is Kind.COUNT:
            computed = row.sum_value
    coverage = row.n_reporting / row.n_children if row.n_children else None
    if row.has_reported:
        return Visible(
            row.reported_value,
            row.reported_numerator,
            row.reported_denominator,
            Origin.REPORTED,
            computed,
            coverage,
            row.reported_preliminary,
        )
    if computed is not None:
        num, den = (
            (row.sum_numerator, row.sum_denominator)
            if indicator.kind is Kind.RATIO
            else (None, None)
        )
        preliminary = row.n_preliminary > 0
        return Visible(computed, num, den, Origin.COMPUTED, computed, coverage, preliminary)
    return Visible(None, None, None, None, None, coverage)


class RollupEngine:
    """Applies observations to series rows and their ancestors; pure apart from the row mapping."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        # per tree version (its first day): each area's tree parent and virtual areas
        self._parents: dict[object, dict[str, tuple[str, ...]]] = {}
        self._trees: dict[str, AreaTree] = {}  # per period (the catalog never changes here)
        self._parents_of: dict[tuple[str, str], tuple[str, ...]] = {}  # per (area, period)

    def tree(self, period: str) -> AreaTree:
        """The area tree the period rolls up in: the one valid on its last day."""
        tree = self._trees.get(period)
        if tree is None:
            tree = self._trees[period] = tree_of_period(self.catalog, period)
        return tree

    def parents(self, area_id: str, period: str) -> tuple[str, ...]:
        """Tree parent and virtual areas an area contributes to directly in a period's tree."""
        found = self._parents_of.get((area_id, period))
        if found is None:
            tree = self.tree(period)
            table = self._parents.get(tree.since)
            if table is None:
                table = self._parents[tree.since] = _parents_in(tree)
            found = self._parents_of[(area_id, period)] = table.get(area_id, ())
        return found

    def keys_for(self, indicator: str, area: str, period: str, gender: str) -> list[SeriesId]:
        """Every row that applying an observation of this series may read or write."""
        keys: list[SeriesId] = []
        pending = [area]
        while pending:
            current = pending.pop()
            key = (indicator, current, period, gender)
            if key not in keys:
                keys.append(key)
                pending.extend(self.parents(current, period))
        return keys

    def new_row(self, key: SeriesId) -> SeriesState:
        """An empty row for a series, with its level, period position and child count then."""
        indicator, area, period, gender = key
        virtual = area in (YTTERSTADEN, FOKUSOMRADEN)
        level = VIRTUAL if virtual else self.catalog.area[area].level.value
        return SeriesState(
            indicator,
            area,
            period,
            gender,
            level,
            parse_period(period).decimal_start,
            n_children=len(self.tree(period).children.get(area, ())),
        )

    def check(self, obs: Observation) -> Indikator:
        """The observation's indicator, or InvalidObservationError naming every rule it breaks.

        The rules are ingest's (`judge_event`), so only what ingest would refuse is refused here.
        """
        problems = judge_event(self.catalog, obs)
        if problems:
            raise InvalidObservationError(problems)
        return self.catalog.indicator[obs.indicator]

    def apply(
        self, rows: MutableMapping[SeriesId, SeriesState], obs: Observation, checked: bool = False
    ) -> Outcome:
        """Apply one observation; rows missing from `rows` are created there. `checked`: the
        caller has passed it through `check` already (the writer sorts out invalid events first)."""
        indicator = self.catalog.indicator[obs.indicator] if checked else self.check(obs)
        row = self._row(rows, (obs.indicator, obs.area, obs.period, obs.gender.value))
        if row.observation_id is not None:
            assert row.updated_at is not None
            # aware times compare as instants, whatever their offsets: no need to convert
            outcome = arrival((row.updated_at, row.observation_id), (obs.updated_at, obs.id_text))
            if outcome is not Outcome.APPLIED:
                return outcome
        before = contribution(indicator, row)
        row.observation_id = obs.id_text
        row.source, row.updated_at, row.received_at = obs.source, obs.updated_at, obs.received_at
        row.retracted, row.comment, row.reported_status = obs.retract, obs.comment, obs.status.value
        if obs.retract:
            row.reported_value = row.reported_numerator = row.reported_denominator = None
        else:
            row.reported_value, row.reported_numerator = obs.value, obs.numerator
            row.reported_denominator = obs.denominator
        self._propagate(rows, indicator, row, before, contribution(indicator, row))
        return Outcome.APPLIED

    def _row(self, rows: MutableMapping[SeriesId, SeriesState], key: SeriesId) -> SeriesState:
        row = rows.get(key)
        if row is None:
            row = rows[key] = self.new_row(key)
        return row

    def _propagate(
        self,
        rows: MutableMapping[SeriesId, SeriesState],
        indicator: Indikator,
        child: SeriesState,
        before: Contribution | None,
        after: Contribution | None,
    ) -> None:
        if before == after:
            return
        for parent_id in self.parents(child.area, child.period):
            parent = self._row(rows, (child.indicator, parent_id, child.period, child.gender))
            parent_before = contribution(indicator, parent)
            for sign, part in ((-1, before), (1, after)):
                if part is not None:
                    parent.sum_numerator += sign * part.numerator
                    parent.sum_denominator += sign * part.denominator
                    parent.sum_value += sign * part.value
                    parent.n_reporting += sign
                    parent.n_preliminary += sign * part.preliminary
            if parent.n_reporting == 0:  # nothing left: clear float residue of the sums
                parent.sum_numerator = parent.sum_denominator = parent.sum_value = 0.0
            if parent_id not in (YTTERSTADEN, FOKUSOMRADEN):
                self._propagate(
                    rows, indicator, parent, parent_before, contribution(indicator, parent)
                )


def _parents_in(tree: AreaTree) -> dict[str, tuple[str, ...]]:
    """Each valid area's tree parent, then the virtual areas it is a member of, in one tree."""
    table: dict[str, list[str]] = {a: [p] for a, p in tree.parent.items()}
    for virtual, members in tree.members.items():
        for member in members:
            table.setdefault(member, []).append(virtual)
    return {a: tuple(ps) for a, ps in table.items()}
