"""The social-risk index: relatives against the city, group means, composite and rank."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.catalog import (
    AreaLevel,
    Catalog,
    Direction,
    Duration,
    Indikator,
    Omrade,
    RiskGroup,
)
from shared.domain.risk import RiskScore, latest_city_inputs, relative, risk_index

CITY = "stockholm"
SDO = AreaLevel.STADSDELSOMRADE
# id: (kind, direction, risk group)
INDICATORS = {
    "ekonomiskt-bistand": ("ratio", "decrease", "forsorjning"),
    "forvarvsfrekvens": ("ratio", "increase", "forsorjning"),
    "ohalsotal": ("level", "decrease", "halsa"),
    "otrygghet": ("ratio", "decrease", "sakerhet_trygghet"),
    "anmalda-brott": ("count", "decrease", "sakerhet_trygghet"),
    "lag-utbildning": ("ratio", "decrease", "sociala_riskfaktorer"),
    "nojdhet-bibliotek": ("ratio", "increase", None),
}
CITY_VALUES = {
    "ekonomiskt-bistand": 4.0,
    "forvarvsfrekvens": 80.0,
    "ohalsotal": 25.0,
    "otrygghet": 20.0,
    "anmalda-brott": 9000.0,
    "lag-utbildning": 10.0,
    "nojdhet-bibliotek": 90.0,
}
ELIGIBLE = ("ekonomiskt-bistand", "forvarvsfrekvens", "ohalsotal", "otrygghet", "lag-utbildning")


def catalog() -> Catalog:
    """Stad, three stadsdelsområden (one with a stadsdel) and the indicators above."""
    areas = [
        Omrade(id=CITY, name="Stockholm", level=AreaLevel.STAD),
        Omrade(id="norr", name="Norr", level=SDO, parent=CITY),
        Omrade(id="soder", name="Söder", level=SDO, parent=CITY),
        Omrade(id="vaster", name="Väster", level=SDO, parent=CITY),
        Omrade(id="norrby", name="Norrby", level=AreaLevel.STADSDEL, parent="norr"),
    ]
    indicators = [
        Indikator.model_validate(
            {
                "id": id_,
                "name": id_,
                "unit": "percent",
                "kind": kind,
                "direction": direction,
                "period_type": "year",
                "area_levels": ["stad", "stadsdelsomrade"],
                "cadence": Duration(months=12),
                "risk_group": group,
            }
        )
        for id_, (kind, direction, group) in INDICATORS.items()
    ]
    return Catalog(
        malomraden=(),
        etappmal=(),
        indikatorer=tuple(indicators),
        namnder=(),
        omraden=tuple(areas),
        kallor=(),
    )


CATALOG = catalog()

# The worked example of docs/risk-index.md.
NORR = {
    "ekonomiskt-bistand": 12.0,  # 100·12/4 = 300
    "forvarvsfrekvens": 64.0,  # higher is better: 100·80/64 = 125
    "ohalsotal": 35.0,  # 140
    "otrygghet": 30.0,  # 150
    "anmalda-brott": 2500.0,  # a count: left out
    "lag-utbildning": 25.0,  # 250
}
SODER = {
    "ekonomiskt-bistand": 2.0,  # 50
    "forvarvsfrekvens": 88.0,  # 90.909…
    "ohalsotal": 20.0,  # 80
    "lag-utbildning": 5.0,  # 50; no otrygghet: säkerhet & trygghet is missing
}


def values_of(**areas: dict[str, float]) -> dict[tuple[str, str], float]:
    return {(ind, area): v for area, vals in areas.items() for ind, v in vals.items()}


def by_area(scores: list[RiskScore]) -> dict[str, RiskScore]:
    return {s.area: s for s in scores}


def test_the_worked_example() -> None:
    scores = risk_index(CATALOG, values_of(norr=NORR, soder=SODER), CITY_VALUES, SDO)
    assert [s.area for s in scores] == ["norr", "soder", "vaster"]
    norr, soder, vaster = scores
    assert {g.group: g.score for g in norr.groups} == {
        RiskGroup.SOCIALA_RISKFAKTORER: 250.0,
        RiskGroup.HALSA: 140.0,
        RiskGroup.SAKERHET_TRYGGHET: 150.0,
        RiskGroup.FORSORJNING: 212.5,
    }
    assert norr.score == pytest.approx(188.125)
    assert (norr.rank, norr.out_of, norr.n_indicators, norr.n_groups) == (1, 2, 5, 4)
    assert norr.missing_indicators == ()
    assert norr.missing_groups == ()
    assert soder.score == pytest.approx((50 + (50 + 100 * 80 / 88) / 2 + 80) / 3)
    assert (soder.rank, soder.n_indicators, soder.n_groups) == (2, 4, 3)
    assert soder.missing_indicators == ("otrygghet",)
    assert soder.missing_groups == (RiskGroup.SAKERHET_TRYGGHET,)
    assert (vaster.score, vaster.rank, vaster.out_of, vaster.groups) == (None, None, 2, ())
    assert vaster.missing_indicators == ELIGIBLE
    assert set(vaster.missing_groups) == set(RiskGroup)


def test_groups_are_listed_in_a_fixed_order_with_their_relatives() -> None:
    norr = risk_index(CATALOG, values_of(norr=NORR), CITY_VALUES, SDO)[0]
    assert [g.group for g in norr.groups] == list(RiskGroup)
    forsorjning = norr.groups[-1]
    assert [(r.indicator, r.value, r.city, r.relative) for r in forsorjning.indicators] == [
        ("ekonomiskt-bistand", 12.0, 4.0, 300.0),
        ("forvarvsfrekvens", 64.0, 80.0, 125.0),
    ]


def test_only_areas_of_the_level_are_scored() -> None:
    values = values_of(norr=NORR, norrby=NORR, stockholm=CITY_VALUES)
    assert [s.area for s in risk_index(CATALOG, values, CITY_VALUES, AreaLevel.STADSDEL)] == [
        "norrby"
    ]
    (city,) = risk_index(CATALOG, values, CITY_VALUES, AreaLevel.STAD)
    assert (city.area, city.score, city.rank) == (CITY, 100.0, 1)


def test_a_city_value_is_needed_for_an_indicator_to_count() -> None:
    city = {k: v for k, v in CITY_VALUES.items() if k != "ohalsotal"}
    norr = risk_index(CATALOG, values_of(norr=NORR), city, SDO)[0]
    assert norr.missing_indicators == ("ohalsotal",)
    assert norr.missing_groups == (RiskGroup.HALSA,)
    assert norr.score == pytest.approx((250 + 150 + 212.5) / 3)


def test_relative_follows_the_direction_and_guards_zero_and_negatives() -> None:
    assert relative(Direction.DECREASE, 6.0, 4.0) == 150.0
    assert relative(Direction.INCREASE, 60.0, 80.0) == pytest.approx(133.333333)
    assert relative(Direction.DECREASE, 0.0, 4.0) == 0.0
    assert relative(Direction.DECREASE, 3.0, 0.0) is None
    assert relative(Direction.INCREASE, 0.0, 80.0) is None
    assert relative(Direction.INCREASE, 10.0, 0.0) == 0.0
    assert relative(Direction.DECREASE, -1.0, 4.0) is None
    assert relative(Direction.DECREASE, float("nan"), 4.0) is None


def test_equal_scores_share_a_rank() -> None:
    values = values_of(norr=SODER, soder=SODER, vaster=NORR)
    scores = risk_index(CATALOG, values, CITY_VALUES, SDO)
    assert [(s.area, s.rank) for s in scores] == [("vaster", 1), ("norr", 2), ("soder", 2)]


def test_scores_are_frozen_and_json_native() -> None:
    scores = risk_index(CATALOG, values_of(norr=NORR), CITY_VALUES, SDO)
    with pytest.raises(dataclasses.FrozenInstanceError):
        scores[0].rank = 7  # type: ignore[misc]
    doc = json.loads(json.dumps([s.as_dict() for s in scores]))
    assert doc[0]["groups"][0] == {
        "group": "sociala_riskfaktorer",
        "score": 250.0,
        "indicators": [
            {"indicator": "lag-utbildning", "value": 25.0, "city": 10.0, "relative": 250.0}
        ],
    }
    assert doc[0]["n_indicators"] == 5
    assert doc[1]["score"] is None
    assert doc[1]["missing_groups"] == [g.value for g in RiskGroup]


def test_latest_city_inputs_take_the_city_latest_period() -> None:
    points = [
        ("otrygghet", CITY, "2023", 21.0),
        ("otrygghet", CITY, "2024", 20.0),
        ("otrygghet", "norr", "2024", 30.0),
        ("otrygghet", "soder", "2023", 15.0),  # only an older period: not compared
        ("ohalsotal", CITY, "2023", 25.0),
        ("ohalsotal", "norr", "2024", 35.0),  # newer than the city has: not compared
        ("ohalsotal", "norr", "2023", 33.0),
        ("lag-utbildning", "norr", "2024", 25.0),  # no city value at all
        ("otrygghet", "vaster", "2024", None),
    ]
    values, city = latest_city_inputs(CATALOG, points)
    assert city == {"otrygghet": 20.0, "ohalsotal": 25.0}
    assert values == {
        ("otrygghet", CITY): 20.0,
        ("otrygghet", "norr"): 30.0,
        ("ohalsotal", CITY): 25.0,
        ("ohalsotal", "norr"): 33.0,
    }


positive = st.floats(min_value=0.01, max_value=1e6, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(ELIGIBLE), positive, min_size=1), positive, st.data())
def test_an_area_like_the_city_scores_100_and_worse_values_raise_the_score(
    city: dict[str, float], factor: float, data: st.DataObject
) -> None:
    alike = risk_index(CATALOG, values_of(norr=city), city, SDO)[0]
    assert alike.score == pytest.approx(100.0)
    worse_one = data.draw(st.sampled_from(sorted(city)))
    sign = Direction(INDICATORS[worse_one][1]).sign
    worse = dict(city, **{worse_one: city[worse_one] * (1 + factor) ** -sign})
    scores = by_area(risk_index(CATALOG, values_of(norr=city, soder=worse), city, SDO))
    assert (scores["soder"].score or 0.0) > (scores["norr"].score or 0.0)
    assert (scores["soder"].rank, scores["norr"].rank) == (1, 2)
