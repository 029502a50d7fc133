"""The history of every series: each version received, with what it did when it arrived.

A version's outcome is fixed at arrival and never rewritten: `applied` when it became the series'
winner then, `superseded` when an older version than the winner arrived, `duplicate` when its
observation_id had been received for the series before (a producer's retry, a re-sent file). A
version applied and later outranked stays `applied`; the winner is the greatest version listed.
"""

from __future__ import annotations

from shared.domain.catalog import Catalog
from shared.domain.observation import Observation
from shared.domain.rollup import Outcome, RollupEngine, SeriesId, SeriesState

VersionKey = tuple[str, str, str, str, str]  # indicator, area, period, gender, observation_id


def version_key(obs: Observation) -> VersionKey:
    """The series and observation_id of a version: what makes a repeat a duplicate."""
    return (obs.indicator, obs.area, obs.period, obs.gender.value, obs.id_text)


def series_of(key: VersionKey) -> SeriesId:
    """The series a version key belongs to."""
    return key[:4]


# What a version says: a repeat of its observation_id that says otherwise is a source's mistake
Content = tuple[float | None, float | None, float | None, bool, str]


def content_of(obs: Observation) -> Content:
    """The numbers and flags a version shows (a producer's retry repeats them exactly)."""
    return content(obs.value, obs.numerator, obs.denominator, obs.retract, obs.status.value)


def content(
    value: float | None,
    numerator: float | None,
    denominator: float | None,
    retract: bool,
    status: str,
) -> Content:
    """What a version shows: a retraction shows no numbers, whatever it carried (a stored one
    may have had them dropped), so two retractions differ only in their status."""
    if retract:
        return (None, None, None, True, status)
    return (value, numerator, denominator, False, status)


class History:
    """The outcomes of versions as they arrive, given the versions received before.

    `content` (of versions received before, by key) lets it tell a producer's retry from an
    observation_id reused for other numbers: both are duplicates and change nothing, but the
    latter is in `conflicts`, so it can be reported instead of vanishing behind a 202."""

    def __init__(self, content: dict[VersionKey, Content] | None = None) -> None:
        self.content = content if content is not None else {}  # its keys: the versions seen
        self.conflicts: list[Observation] = []

    def record(self, obs: Observation, applied: Outcome) -> Outcome:
        """The version's outcome from the engine's answer; a repeated id is a duplicate even
        when the engine saw it outranked (it compares with the winner only)."""
        key = version_key(obs)
        known = self.content.get(key)
        if known is not None:
            if known != content_of(obs):
                self.conflicts.append(obs)
            return Outcome.DUPLICATE
        self.content[key] = content_of(obs)
        return applied


class Replay:
    """A log's events applied in order in memory, as the aggregator applies them: every series
    row (`rows`) and each version's outcome as it is recorded on arrival."""

    def __init__(self, catalog: Catalog) -> None:
        self.engine = RollupEngine(catalog)
        self.rows: dict[SeriesId, SeriesState] = {}
        self.history = History()

    def apply(self, obs: Observation, checked: bool = False) -> Outcome:
        """Apply one event (InvalidObservationError unless `checked`); its recorded outcome."""
        return self.history.record(obs, self.engine.apply(self.rows, obs, checked))
