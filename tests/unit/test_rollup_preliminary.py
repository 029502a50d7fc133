"""Preliminary values travel up the area tree with the sums: engine and oracle, worked examples."""

from __future__ import annotations

from datetime import timedelta

from shared.domain.observation import Observation
from shared.domain.rollup import RollupEngine, SeriesId, SeriesState, visible
from tests.oracle import oracle_rows
from tests.strategies import BASE_TIME, CATALOG, CITY, COUNT, SHARE, observation

LATER = BASE_TIME + timedelta(hours=1)


def preliminary(events: list[Observation], indicator: str = SHARE) -> dict[str, bool]:
    """Per area: whether the visible value is preliminary; the engine and the oracle must agree."""
    engine, rows = RollupEngine(CATALOG), dict[SeriesId, SeriesState]()
    for obs in events:
        engine.apply(rows, obs)
    want = oracle_rows(CATALOG, events)
    found = {}
    for key, row in rows.items():
        got = visible(CATALOG.indicator[indicator], row)
        assert got.preliminary == want[key].preliminary, key
        found[key[1]] = got.preliminary
    return found


def share(area: str, status: str = "final", **kw: object) -> Observation:
    return observation(SHARE, area, "2024", numerator=30, denominator=100, status=status, **kw)  # type: ignore[arg-type]


def test_one_preliminary_child_makes_every_computed_ancestor_preliminary() -> None:
    flags = preliminary([share("rinkeby", "preliminary"), share("kista"), share("hogalid")])
    marked = {area for area, flag in flags.items() if flag}
    assert marked == {"rinkeby", "rinkeby-kista", CITY, "ytterstaden", "fokusomraden"}
    assert {"kista", "hogalid", "sodermalm"} <= flags.keys()


def test_a_final_report_for_the_parent_is_published_and_contributes_final() -> None:
    events = [share("rinkeby", "preliminary"), share("rinkeby-kista")]
    flags = preliminary(events)
    assert {area for area, flag in flags.items() if flag} == {"rinkeby"}
    engine, rows = RollupEngine(CATALOG), dict[SeriesId, SeriesState]()
    for obs in events:
        engine.apply(rows, obs)
    # the parent's computed value (shown beside the reported one) still has the preliminary child
    assert rows[(SHARE, "rinkeby-kista", "2024", "T")].n_preliminary == 1


def test_a_final_version_or_a_retraction_clears_the_flag_all_the_way_up() -> None:
    first = share("rinkeby", "preliminary")
    assert preliminary([first])[CITY]
    assert not any(preliminary([first, share("rinkeby", updated_at=LATER)]).values())
    retracted = observation(SHARE, "rinkeby", "2024", retract=True, updated_at=LATER)
    assert not any(preliminary([first, retracted]).values())


def test_an_older_preliminary_version_loses_in_any_order() -> None:
    old = share("kista", "preliminary")
    new = share("kista", updated_at=LATER)
    assert preliminary([old, new]) == preliminary([new, old])
    assert not preliminary([new, old])[CITY]


def test_counts_carry_the_flag_too() -> None:
    events = [
        observation(COUNT, "alvik", "2024", value=5, status="preliminary"),
        observation(COUNT, "abrahamsberg", "2024", value=7),
    ]
    flags = preliminary(events, COUNT)
    assert {area for area, flag in flags.items() if flag} == {
        "alvik",
        "bromma",
        CITY,
        "ytterstaden",
    }
    assert "abrahamsberg" in flags
