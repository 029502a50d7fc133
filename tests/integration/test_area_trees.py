"""The 2020 reorganisation end to end on SQLite and PostgreSQL: aggregator store → read model → API.

A 2019 series for Hägersten-Liljeholmen and Älvsjö and a 2021 series for Hägersten-Älvsjö roll up
to the right parents and to the same city; the API shows each area's validity and each row's tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.api.server import serving
from services.api.app import create_app
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.domain.catalog import Gender
from shared.domain.observation import Observation
from shared.readmodel.projections import Projector
from shared.readmodel.store import SeriesStore
from shared.settings import Settings
from tests.services import read_model_mismatches
from tests.streams import StreamMaker

CATALOG = default_catalog()
SHARE = "behorighet-gymnasiet-ak9"  # ratio, percent, year, stad → stadsdelsområde → stadsdel
CITY = "stockholm"
# (area, period, numerator, denominator)
REPORTS = [
    ("hagersten-liljeholmen", "2019", 80.0, 100.0),
    ("alvsjo", "2019", 45.0, 50.0),
    ("solberga", "2019", 9.0, 10.0),
    ("hagersten-alvsjo", "2021", 120.0, 150.0),
    ("solberga", "2021", 7.0, 10.0),
    ("aspudden", "2021", 3.0, 4.0),
]


def events() -> list[Observation]:
    maker = StreamMaker(CATALOG, seed=1, source="utbildningsforvaltningen")
    share = CATALOG.indicator[SHARE]
    return [
        maker.observation(share, area, period, Gender.T.value).model_copy(
            update={"numerator": num, "denominator": den, "value": 100 * num / den}
        )
        for area, period, num, den in REPORTS
    ]


@pytest.fixture
def http(db_url: str) -> Iterator[httpx.Client]:
    """The events applied by the aggregator's store and projector, and the API on that database."""
    upgrade(db_url)
    engine = make_engine(db_url)
    result = SeriesStore(engine, CATALOG).apply(events(), Projector(CATALOG))
    assert len(result.outcomes) == len(REPORTS)
    assert read_model_mismatches(engine, CATALOG, events()) == []
    app = create_app(Settings(database_url=db_url), engine=engine, catalog=CATALOG)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client
    engine.dispose()


def rows(http: httpx.Client, **params: Any) -> dict[tuple[str, str], dict[str, Any]]:
    answer = http.get(f"/v1/indikatorer/{SHARE}/observationer", params=params | {"limit": 1000})
    assert answer.status_code == 200, answer.text
    return {(r["area"], r["period"]): r for r in answer.json()["items"]}


def test_both_trees_roll_up_to_the_right_parents_and_the_same_city(http: httpx.Client) -> None:
    got = rows(http, gender="T")
    city_2019, city_2021 = got[(CITY, "2019")], got[(CITY, "2021")]
    # 2019: the two former stadsdelsområden are the city's children; 2021: Hägersten-Älvsjö.
    assert (city_2019["numerator"], city_2019["denominator"]) == (125.0, 150.0)
    assert (city_2019["n_reporting"], city_2019["n_children"]) == (2, 14)
    assert (city_2021["numerator"], city_2021["denominator"]) == (120.0, 150.0)
    assert (city_2021["n_reporting"], city_2021["n_children"]) == (1, 13)
    # Solberga rolls to Älvsjö in 2019 and to Hägersten-Älvsjö in 2021.
    assert got[("alvsjo", "2019")]["computed_value"] == pytest.approx(90.0)
    assert (got[("alvsjo", "2019")]["n_reporting"], got[("alvsjo", "2019")]["n_children"]) == (1, 7)
    h_a = got[("hagersten-alvsjo", "2021")]
    assert (h_a["value"], h_a["origin"]) == (pytest.approx(80.0), "reported")
    assert h_a["computed_value"] == pytest.approx(100 * 10 / 14)  # Solberga 7/10 + Aspudden 3/4
    assert (h_a["n_reporting"], h_a["n_children"]) == (2, 11)
    assert ("hagersten-alvsjo", "2019") not in got
    assert ("alvsjo", "2021") not in got
    assert {r["tree"] for k, r in got.items() if k[1] == "2019"} == {"2019-12-31"}
    assert {r["tree"] for k, r in got.items() if k[1] == "2021"} == {"2021-12-31"}
    csv = http.get(f"/v1/indikatorer/{SHARE}/observationer", params={"format": "csv"}).text
    assert "tree" in csv.splitlines()[0].split(",")
    assert ",2019-12-31," in csv


def test_omraden_show_validity_parent_history_and_one_days_tree(http: httpx.Client) -> None:
    answer = http.get("/v1/omraden", params={"limit": 1000})
    areas = {a["id"]: a for a in answer.json()["items"]}
    assert areas["alvsjo"]["valid_to"] == "2020-06-30"
    assert areas["alvsjo"]["namnd"] == "alvsjo-sdn"
    assert areas["hagersten-alvsjo"]["valid_from"] == "2020-07-01"
    assert areas["solberga"]["parent"] == "hagersten-alvsjo"
    assert areas["solberga"]["parents"] == [
        {"id": "alvsjo", "valid_from": None, "valid_to": "2020-06-30"},
        {"id": "hagersten-alvsjo", "valid_from": "2020-07-01", "valid_to": None},
    ]
    old = http.get("/v1/omraden", params={"valid_on": "2019-12-31", "level": "stadsdelsomrade"})
    assert {"alvsjo", "hagersten-liljeholmen"} <= {a["id"] for a in old.json()["items"]}
    assert old.json()["total"] == 14
    kids = http.get("/v1/omraden", params={"valid_on": "2019-12-31", "parent": "alvsjo"})
    assert "solberga" in {a["id"] for a in kids.json()["items"]}
    new = http.get("/v1/omraden", params={"valid_on": "2021-12-31", "level": "stadsdelsomrade"})
    assert new.json()["total"] == 13
    profile = http.get("/v1/omraden/alvsjo").json()
    share = next(r for r in profile["indikatorer"] if r["indicator"] == SHARE)
    assert (share["period"], share["value"]) == ("2019", pytest.approx(90.0))
    assert profile["valid_to"] == "2020-06-30"
