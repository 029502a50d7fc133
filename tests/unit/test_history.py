"""Property tests: the outcome each version gets on arrival (`shared.domain.history` over the
rollup engine) equals the plain-loop oracle's, and the greatest version is the winner."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.history import History, content, version_key
from shared.domain.observation import Observation, ObservationStatus
from shared.domain.rollup import Outcome, RollupEngine, SeriesId, SeriesState
from tests.oracle import oracle_versions, version, winners
from tests.strategies import CATALOG, streams
from tests.streams import StreamMaker

SETTINGS = settings(max_examples=200, deadline=None)


def outcomes(events: list[Observation], history: History | None = None) -> list[str]:
    """Apply events in order; each version's outcome as the aggregator records it."""
    engine, rows, history = (
        RollupEngine(CATALOG),
        dict[SeriesId, SeriesState](),
        history or History(),
    )
    return [history.record(obs, engine.apply(rows, obs)).value for obs in events]


@SETTINGS
@given(streams(), st.data())
def test_outcomes_as_of_arrival_equal_the_oracle(
    events: list[Observation], data: st.DataObject
) -> None:
    arrived = data.draw(st.permutations(events))
    assert outcomes(arrived) == oracle_versions(arrived)


@SETTINGS
@given(streams())
def test_a_repeat_is_a_duplicate_even_after_it_was_outranked(events: list[Observation]) -> None:
    again = outcomes(events + events)[len(events) :]
    assert set(again) <= {"duplicate"}


@SETTINGS
@given(streams())
def test_the_greatest_version_listed_is_the_winner(events: list[Observation]) -> None:
    kept = [
        obs for obs, outcome in zip(events, outcomes(events), strict=True) if outcome != "duplicate"
    ]
    greatest: dict[SeriesId, Observation] = {}
    for obs in kept:
        key = (obs.indicator, obs.area, obs.period, obs.gender.value)
        if key not in greatest or version(obs) > version(greatest[key]):
            greatest[key] = obs
    assert greatest == winners(events)


@SETTINGS
@given(streams())
def test_a_retry_is_no_conflict_and_other_numbers_under_a_seen_id_are(
    events: list[Observation],
) -> None:
    history = History()
    outcomes(events + events, history)
    assert history.conflicts == []
    flip = {ObservationStatus.FINAL: ObservationStatus.PRELIMINARY}
    changed = [
        obs.model_copy(update={"status": flip.get(obs.status, ObservationStatus.FINAL)})
        for obs in events
    ]
    outcomes(changed, history)
    assert [version(o) for o in history.conflicts] == [version(o) for o in changed]


def test_a_retried_retraction_is_no_conflict_whatever_numbers_it_carries() -> None:
    maker = StreamMaker(CATALOG, seed=4)
    indicator = CATALOG.indikatorer[0]
    first = maker.observation(indicator, "rinkeby", "2024", "T").model_copy(
        update={"retract": True}
    )
    key = version_key(first)
    # as stored: a retracted winner's numbers dropped (a backfill), its status kept
    stored = {key: content(None, None, None, True, first.status.value)}
    history = History(stored)
    assert history.record(first, Outcome.DUPLICATE) is Outcome.DUPLICATE
    assert history.conflicts == []
    other_status = first.model_copy(
        update={"status": next(s for s in ObservationStatus if s is not first.status)}
    )
    history.record(other_status, Outcome.DUPLICATE)
    assert history.conflicts == [other_status]
