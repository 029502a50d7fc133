"""The JSON-stat 2.0 decoder on the specification's own sample datasets (tests/data/jsonstat)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.ingest.connectors.pxweb.jsonstat import JsonStatError, decode

SAMPLES = Path(__file__).parents[1] / "data" / "jsonstat"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def test_order_is_row_major_what_does_not_change_first() -> None:
    ds = decode(sample("order"))
    assert [d.id for d in ds.dimensions] == ["A", "B", "C"]
    assert ds.size == 24
    for codes, value, _ in ds.cells():
        a, b, c = codes["A"], codes["B"], codes["C"]
        if (a, b, c) == ("2", "1", "4"):
            assert value == "A1B1C4"  # the published sample's own slip, at position 11
        else:
            assert value == f"A{a}B{b}C{c}"
    assert ds.cell(A="3", B="2", C="1") == ("A3B2C1", None)


def test_oecd_index_objects_and_sparse_status() -> None:
    ds = decode(sample("oecd"))
    assert ds.cell(concept="UNR", area="AU", year="2003") == (5.943826289, None)
    assert ds.cell(concept="UNR", area="AT", year="2003") == (4.278559338, None)
    assert ds.cell(concept="UNR", area="AU", year="2013") == (5.50415003, "e")
    assert ds.cell(concept="UNR", area="OECD", year="2014") == (8.004598637, "e")
    assert ds.dimension("area").labels["AU"] == "Australia"
    assert ds.updated == "2012-11-27"


def test_canada_constant_dimension_by_label_and_one_status_for_all() -> None:
    ds = decode(sample("canada"))
    assert ds.dimension("country").codes == ("CA",)
    assert ds.cell(country="CA", year="2012", age="T", concept="POP", sex="F") == (17571.3, "a")
    assert ds.cell(country="CA", year="2012", age="4", concept="POP", sex="T") == (1928.8, "a")
    assert ds.cell(country="CA", year="2012", age="T", concept="PERCENT", sex="M")[0] == 100.0


def test_galicia_six_dimensions() -> None:
    ds = decode(sample("galicia"))
    total = {"birth": "T", "age": "T", "gender": "T", "time": "2001", "concept": "pop"}
    assert ds.size == 3960
    assert ds.cell(**total, residence="T")[0] == 2695880
    assert ds.cell(**total, residence="15")[0] == 1096027


def test_us_gsp_index_objects_on_every_dimension() -> None:
    ds = decode(sample("us-gsp"))
    assert ds.cell(year="2013", state="01", concept="gsp")[0] == 174400
    assert ds.cell(year="2013", state="01", concept="pop")[0] == 4.8
    assert ds.cell(year="2013", state="02", concept="capita")[0] == 65143


def test_hierarchy_values_as_an_object_keyed_by_position() -> None:
    ds = decode(sample("hierarchy"))
    assert ds.size == 132
    assert ds.values == {}
    assert all(value is None for _, value, _ in ds.cells())


def test_cells_walk_every_position_once() -> None:
    ds = decode(sample("oecd"))
    seen = [ds.offset(codes) for codes, _, _ in ds.cells()]
    assert seen == list(range(ds.size))


def _tiny(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": "2.0",
        "class": "dataset",
        "id": ["r", "t"],
        "size": [2, 2],
        "dimension": {
            "r": {"category": {"index": {"a": 0, "b": 1}}},
            "t": {"category": {"index": ["2019", "2020"]}},
        },
        "value": [1, 2, 3, 4],
    }
    return doc | changes


def test_object_values_and_status_by_position() -> None:
    ds = decode(_tiny(value={"3": 7.5, "0": 1}, status={"3": ".."}))
    assert ds.cell(r="b", t="2020") == (7.5, "..")
    assert ds.cell(r="a", t="2020") == (None, None)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"value": [1, 2, 3]}, "`value` has 3 items, the dimensions make 4"),
        ({"value": {"4": 1}}, "`value` key '4' is not a position below 4"),
        ({"value": [1, 2, True, 4]}, "`value` at position 2 is True"),
        ({"size": [2]}, "`id` names 2 dimensions, `size` gives 1"),
        ({"size": [2, 3]}, "dimension 't' has 2 categories but `size` says 3"),
        ({"class": "collection"}, "class is 'collection', not 'dataset'"),
        ({"dimension": {"r": {"category": {"index": {"a": 0, "b": 2}}}}}, "positions are not"),
        ({"dimension": {"r": {"category": {"index": ["a", "b"]}}}}, "dimension 't' is missing"),
        ({"status": [".."] * 3}, "`status` has 3 items"),
    ],
)
def test_malformed_documents_say_what_is_wrong(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(JsonStatError) as caught:
        decode(_tiny(**changes))
    assert says in str(caught.value)
