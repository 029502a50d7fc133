"""`stadspuls verify`'s comparison: the read model against the domain engine's replay of the log."""

from __future__ import annotations

from typing import Any

import pytest

from services.aggregate.verify import Report, compare, expected_rows, shown
from shared.catalog.loader import default_catalog
from shared.domain.catalog import Catalog
from shared.domain.rollup import SeriesId
from tests.streams import StreamMaker


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def as_read_model(catalog: Catalog, events: list[Any]) -> dict[SeriesId, dict[str, Any]]:
    rows = expected_rows(catalog, events)
    return {k: v for k, r in rows.items() if (v := shown(catalog, r)) is not None}


def check(catalog: Catalog, events: list[Any], actual: dict[SeriesId, dict[str, Any]]) -> Report:
    report = Report()
    compare(catalog, expected_rows(catalog, events), actual, report)
    return report


def test_the_same_log_replayed_in_another_order_equals_the_read_model(catalog: Catalog) -> None:
    events = StreamMaker(catalog, seed=5).stream(3_000)
    actual = as_read_model(catalog, list(reversed(events)))
    report = check(catalog, events, actual)
    assert report.ok, report


def test_missing_extra_and_wrong_series_are_each_reported(catalog: Catalog) -> None:
    events = StreamMaker(catalog, seed=6).stream(2_000)
    actual = as_read_model(catalog, events)
    reported = sorted(k for k, v in actual.items() if v["origin"] == "reported")
    gone, changed = reported[0], reported[1]
    del actual[gone]
    actual[changed] = {**actual[changed], "value": actual[changed]["value"] + 1}
    ghost = ("behorighet-gymnasiet-ak9", "rinkeby", "1999", "T")
    actual[ghost] = {**actual[changed], "origin": "reported"}
    report = check(catalog, events, actual)
    assert [line.split(":")[0] for line in report.missing] == ["|".join(gone)]
    assert [line.split(":")[0] for line in report.extra] == ["|".join(ghost)]
    assert "|".join(changed) in [line.split(":")[0] for line in report.wrong]
    assert not report.ok


def test_an_older_winner_with_the_same_value_is_wrong(catalog: Catalog) -> None:
    events = StreamMaker(catalog, seed=7).stream(500)
    actual = as_read_model(catalog, events)
    key = next(k for k, v in actual.items() if v["origin"] == "reported")
    actual[key] = {**actual[key], "observation_id": "00000000-0000-0000-0000-000000000000"}
    assert [line.split(":")[0] for line in check(catalog, events, actual).wrong] == ["|".join(key)]
