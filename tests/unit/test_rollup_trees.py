"""The bundled catalog's 2020 reorganisation in the engine: each period rolls up in its own tree."""

from __future__ import annotations

from uuid import uuid4

import pytest

from shared.catalog.loader import default_catalog
from shared.domain.catalog import Gender
from shared.domain.observation import Observation
from shared.domain.rollup import InvalidObservationError, RollupEngine, SeriesId, SeriesState
from shared.domain.validation import Scope, ValidRow, validate_row
from tests.strategies import BASE_TIME

CATALOG = default_catalog()
COUNT = "arbetsplatser-ytterstaden-antal"  # count, year, down to stadsdel
CITY = "stockholm"


def count(area: str, period: str, value: float) -> Observation:
    return Observation(
        observation_id=uuid4(),
        source="scb",
        received_at=BASE_TIME,
        indicator=COUNT,
        area=area,
        period=period,
        gender=Gender.T,
        value=value,
        updated_at=BASE_TIME,
    )


def apply(*events: Observation) -> dict[SeriesId, SeriesState]:
    engine, rows = RollupEngine(CATALOG), dict[SeriesId, SeriesState]()
    for obs in events:
        engine.apply(rows, obs)
    return rows


def row(rows: dict[SeriesId, SeriesState], area: str, period: str) -> SeriesState:
    return rows[(COUNT, area, period, "T")]


def test_a_stadsdel_of_alvsjo_rolls_to_alvsjo_in_2019_and_to_hagersten_alvsjo_in_2021() -> None:
    rows = apply(count("solberga", "2019", 10), count("solberga", "2021", 20))
    assert row(rows, "alvsjo", "2019").sum_value == 10
    assert (COUNT, "hagersten-alvsjo", "2019", "T") not in rows
    assert row(rows, "hagersten-alvsjo", "2021").sum_value == 20
    assert (COUNT, "alvsjo", "2021", "T") not in rows
    assert row(rows, CITY, "2019").sum_value == 10
    assert row(rows, CITY, "2021").sum_value == 20


def test_the_city_counts_the_children_valid_in_each_periods_tree() -> None:
    rows = apply(
        count("hagersten-liljeholmen", "2019", 5),
        count("alvsjo", "2019", 7),
        count("hagersten-alvsjo", "2021", 12),
    )
    city_2019, city_2021 = row(rows, CITY, "2019"), row(rows, CITY, "2021")
    assert (city_2019.sum_value, city_2019.n_reporting, city_2019.n_children) == (12, 2, 14)
    assert (city_2021.sum_value, city_2021.n_reporting, city_2021.n_children) == (12, 1, 13)
    assert row(rows, "ytterstaden", "2019").n_children == 10
    assert row(rows, "ytterstaden", "2021").n_children == 9
    assert row(rows, "alvsjo", "2019").n_children == 7  # Älvsjö's seven stadsdelar


def test_a_year_that_ends_after_the_change_rolls_up_in_the_new_tree() -> None:
    rows = apply(count("aspudden", "2020", 3))
    assert row(rows, "hagersten-alvsjo", "2020").sum_value == 3
    assert (COUNT, "hagersten-liljeholmen", "2020", "T") not in rows


@pytest.mark.parametrize(
    ("area", "period"), [("alvsjo", "2022"), ("alvsjo", "2020"), ("hagersten-alvsjo", "2019")]
)
def test_a_value_of_an_area_not_valid_then_is_refused(area: str, period: str) -> None:
    with pytest.raises(InvalidObservationError) as caught:
        apply(count(area, period, 1))
    [problem] = caught.value.problems
    assert problem.code.value == "area_not_valid"
    assert f"{area!r} is valid" in problem.message
    assert f"the last day of {period!r}" in problem.message


@pytest.mark.parametrize("text", [False, True])
def test_ingest_refuses_a_former_area_after_the_change_and_accepts_it_before(text: bool) -> None:
    scope = Scope.of(CATALOG, "scb", BASE_TIME)
    raw = {"indicator": COUNT, "area": "alvsjo", "period": "2022", "value": "4" if text else 4}
    [error] = validate_row(raw, scope, 3, text=text)
    assert (error.row, error.field, error.code.value) == (3, "area", "area_not_valid")
    assert "'alvsjo' is valid –2020-06-30, not on 2022-12-31" in error.message
    accepted = validate_row(raw | {"period": "2019"}, scope, 4, text=text)
    assert isinstance(accepted, ValidRow)
