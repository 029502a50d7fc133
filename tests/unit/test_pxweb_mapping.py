"""The `pxweb:` mapping: its own rules, its cross-checks in the catalog, and how it meets a table."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from services.ingest.connectors.base import ConnectorError
from services.ingest.connectors.pxweb.jsonstat import decode
from services.ingest.connectors.pxweb.plan import period_of, plan
from services.ingest.connectors.pxweb.query import Query
from services.ingest.connectors.pxweb.rows import Mapped, map_rows, updated_at
from services.ingest.connectors.pxweb.tables import Table, Variable
from shared.catalog import CATALOG_PATH, CatalogLoadError, load_catalog_text
from shared.domain.catalog import PeriodType
from shared.domain.mappings.pxweb import PxWebMapping, mappings_of

BASE = "https://statistik.example/api/v1/sv/db"
GOOD: dict[str, Any] = {
    "source": "scb",
    "api": "v1",
    "base_url": BASE,
    "table": "AM/Forv",
    "gender": "Kon",
    "value": "Andel",
    "numerator": "Arb",
    "denominator": "Bef",
    "areas": {"0180": "stockholm", "01": "rinkeby-kista", "13": "hagersten-liljeholmen"},
    "genders": {"1+2": "T", "2": "K", "1": "M"},
}


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"denominator": None}, "numerator and denominator are mapped together"),
        ({"value": None, "numerator": None, "denominator": None}, "map at least `value`"),
        ({"genders": {}}, "`gender` (the variable) and `genders`"),
        ({"fixed": {"Tid": "2020"}}, "`fixed` names a mapped variable: Tid"),
        ({"api": "v2"}, "is not a v2 table path or id"),
        ({"base_url": BASE + "/"}, "base_url"),
        ({"denominator": "Arb"}, "different contents"),
        ({"scale": 0}, "scale"),
        ({"areas": {}}, "areas"),
    ],
)
def test_a_mapping_that_cannot_work_is_refused(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=None) as caught:
        PxWebMapping.model_validate(GOOD | changes)
    assert says in str(caught.value)


def catalog_with(indicator: str, pxweb: Any) -> Any:
    doc = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    for ind in doc["indikatorer"]:
        if ind["id"] == indicator:
            ind["pxweb"] = pxweb
    return load_catalog_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


def problems(indicator: str, pxweb: Any) -> list[str]:
    with pytest.raises(CatalogLoadError) as caught:
        catalog_with(indicator, pxweb)
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def test_a_good_mapping_and_a_list_of_mappings_load() -> None:
    after = GOOD | {"table": "AM/Forv2021", "areas": {"16": "hagersten-alvsjo"}}
    catalog = catalog_with("forvarvsfrekvens-20-64", [GOOD, after])
    mapped = mappings_of(catalog.indicator["forvarvsfrekvens-20-64"])
    assert [m.table for m in mapped] == ["AM/Forv", "AM/Forv2021"]
    assert mappings_of(catalog.indicator["medianinkomst"]) == ()


def test_the_catalog_check_names_every_misfit() -> None:
    doc = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    n = [ind["id"] for ind in doc["indikatorer"]].index("forvarvsfrekvens-20-64")
    at = f"indikatorer[{n}].pxweb[0]"
    found = problems(
        "forvarvsfrekvens-20-64",
        GOOD
        | {
            "source": "utbildningsforvaltningen",
            "areas": {"01": "rinkeby-kista", "99": "atlantis", "98": "rinkeby-kista"},
        },
    )
    assert (
        f"{at}.source: 'forvarvsfrekvens-20-64' does not name 'utbildningsforvaltningen' in its sources"
        in found
    )
    assert f"{at}.areas.99: unknown omraden id 'atlantis'" in found
    assert f"{at}.areas.98: 'rinkeby-kista' is already region code '01'" in found


def test_levels_genders_and_ratio_parts_are_checked() -> None:
    income = {"source": "scb", "api": "v2", "base_url": BASE, "table": "TAB1", "value": "M"}
    found = problems(
        "medianinkomst",
        income | {"areas": {"x": "rinkeby"}, "gender": "Kon", "genders": {"2": "K"}},
    )
    assert any("is not reported at level stadsdel" in p for p in found)
    assert any("is not reported for gender K" in p for p in found)
    found = problems(
        "medianinkomst",
        income | {"areas": {"0180": "stockholm"}, "numerator": "a", "denominator": "b"},
    )
    assert any("'medianinkomst' is a level, not a ratio" in p for p in found)
    parts = {"numerator": None, "denominator": None}
    found = problems("forvarvsfrekvens-20-64", GOOD | parts)
    assert any("is a ratio: map numerator and denominator" in p for p in found)
    city_only = catalog_with(
        "forvarvsfrekvens-20-64", GOOD | parts | {"areas": {"0180": "stockholm"}}
    )
    assert mappings_of(city_only.indicator["forvarvsfrekvens-20-64"])[0].numerator is None


@pytest.mark.parametrize(
    ("code", "period_type", "period"),
    [
        ("2024", PeriodType.YEAR, "2024"),
        ("2024M03", PeriodType.MONTH, "2024-03"),
        ("2024K2", PeriodType.QUARTER, "2024-Q2"),
        ("2024Q4", PeriodType.QUARTER, "2024-Q4"),
        ("2024T3", PeriodType.TERTIAL, "2024-T3"),
        ("2024HT", PeriodType.TERM, "2024-HT"),
        ("2024M13", PeriodType.MONTH, None),
        ("2024M03", PeriodType.YEAR, None),
        ("2023/24", PeriodType.YEAR, None),
    ],
)
def test_time_codes_become_catalog_periods(
    code: str, period_type: PeriodType, period: str | None
) -> None:
    assert period_of(code, period_type) == period


def table(**variables: tuple[tuple[str, ...], bool]) -> Table:
    return Table(f"{BASE}/AM/Forv", {c: Variable(c, v, e) for c, (v, e) in variables.items()}, None)


TABLE = table(
    Region=(("0180", "01", "02"), False),
    Kon=(("1+2", "1", "2"), True),
    Alder=(("20-64", "16-19"), False),
    ContentsCode=(("Andel", "Arb", "Bef"), False),
    Tid=(("2018", "2019", "2019/20"), False),
)


def test_a_plan_keeps_the_codes_the_table_has() -> None:
    m = PxWebMapping.model_validate(GOOD | {"fixed": {"Alder": "20-64"}})
    resolved = plan(m, TABLE, PeriodType.YEAR)
    assert resolved.regions == ("0180", "01")  # 13 is not in this table
    assert resolved.periods == {"2018": "2018", "2019": "2019"}
    assert resolved.unreadable_times == ("2019/20",)
    assert resolved.selection()["Alder"] == ("20-64",)


def test_a_plan_refuses_a_table_the_mapping_does_not_fit() -> None:
    m = PxWebMapping.model_validate(GOOD | {"value": "Procent", "fixed": {"Sektor": "1"}})
    with pytest.raises(ConnectorError) as caught:
        plan(m, TABLE, PeriodType.YEAR)
    assert caught.value.kind == "mapping"
    assert caught.value.url == f"{BASE}/AM/Forv"
    assert "ContentsCode has no value 'Procent'" in caught.value.message
    assert "the table has no variable 'Sektor'" in caught.value.message
    assert "variable 'Alder' cannot be left out" in caught.value.message


def test_text_in_a_value_cell_is_refused_and_dots_are_skipped() -> None:
    m = PxWebMapping.model_validate(
        GOOD | {"gender": None, "genders": {}, "numerator": None, "denominator": None}
    )
    ds = decode(
        {
            "id": ["Region", "ContentsCode", "Tid"],
            "size": [2, 1, 2],
            "dimension": {
                "Region": {"category": {"index": ["0180", "01"]}},
                "ContentsCode": {"category": {"index": ["Andel"]}},
                "Tid": {"category": {"index": ["2018", "2019"]}},
            },
            "value": [71.5, "71,5", None, 0],
            "status": {"2": "..", "3": "."},
        }
    )
    resolved = plan(
        m,
        table(
            Region=(("0180", "01"), False),
            ContentsCode=(("Andel",), False),
            Tid=(("2018", "2019"), False),
        ),
        PeriodType.YEAR,
    )
    query = Query(tuple(resolved.selection().items()))
    into = Mapped()
    map_rows("scb", "forvarvsfrekvens-20-64", resolved, query, ds, None, into)
    assert [(r["area"], r["period"], r["value"]) for r in into.rows] == [
        ("stockholm", "2018", 71.5)
    ]
    assert [(r.code, r.where) for r in into.refused] == [
        ("bad_value", "AM/Forv Region=0180 Tid=2019")
    ]
    assert into.skipped == 2  # `..` and `.`: no observation, never zero
    assert into.fetched == 4


def test_updated_stamps_without_an_offset_are_stockholm_time() -> None:
    assert updated_at("2021-11-15T08:00:00") == "2021-11-15T07:00:00Z"
    assert updated_at("2021-07-15T08:00:00") == "2021-07-15T06:00:00Z"
    assert updated_at("2021-11-15T07:00:00Z") == "2021-11-15T07:00:00Z"
    assert updated_at("yesterday") is None
