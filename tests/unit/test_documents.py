"""The summary documents the domain builds are what the read API's answer models describe.

The API serves the documents of `shared.domain.summary` and `shared.domain.risk` as they are, adding
only what it knows of the request (area, gender, computed_at, the headline's latest value). Every
key of a document must be a field of its model and every field of the model a key of the document
or one the API adds, all the way down, so a field renamed on one side fails here.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, get_type_hints

import pytest
from pydantic import BaseModel

from services.api.profiles import RISK_COLUMNS, RISK_DETAILS
from services.api.schemas.areas import RiskGroupScore, RiskOut
from services.api.schemas.catalog import IndikatorOut
from services.api.schemas.status import (
    BaselineOut,
    EtappmalOut,
    IndicatorSummary,
    NamndRollup,
    ResponsibleOut,
    StatusInputs,
    TargetOut,
)
from shared.catalog.loader import default_catalog
from shared.domain import documents
from shared.domain.catalog import AreaLevel, NamndType, PeriodType
from shared.domain.risk import eligible, risk_index
from shared.domain.status import Point
from shared.domain.summary import AreaValue, etappmal_summary, indikator_summary, namnd_summary

CATALOG = default_catalog()
MISSING = CATALOG.etappmal[0].indicators[-1]  # an indicator without a summary yet
NOW = datetime(2025, 3, 1, tzinfo=UTC)
SUFFIX = {
    PeriodType.YEAR: "",
    PeriodType.TERTIAL: "-T1",
    PeriodType.QUARTER: "-Q1",
    PeriodType.MONTH: "-01",
    PeriodType.TERM: "-VT",
}
# What the API adds to a document of the domain before serving it with the model.
ADDED: dict[type[BaseModel], set[str]] = {
    IndicatorSummary: {"area", "gender"},
    EtappmalOut: {"trend", "latest_period", "latest_value", "area", "gender", "computed_at"},
    NamndRollup: {"computed_at"},
}


def nested(annotation: Any) -> type[BaseModel] | None:
    """The answer model a field holds (alone, optional or in a list), if any."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        found = [m for a in typing.get_args(annotation) if (m := nested(a))]
        return found[0] if found else None
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def mismatches(
    model: type[BaseModel], doc: Mapping[str, Any], at: str = "", complete: bool = True
) -> list[str]:
    """Where a document and a model disagree: a key the model lacks, a field the document lacks."""
    fields = model.model_fields
    found = [f"{at}{key}: not a field of {model.__name__}" for key in doc.keys() - fields.keys()]
    if complete:
        missing = fields.keys() - doc.keys() - ADDED.get(model, set())
        found += [f"{at}{key}: {model.__name__} field missing from the document" for key in missing]
    for key in doc.keys() & fields.keys():
        inner, value = nested(fields[key].annotation), doc[key]
        for n, item in enumerate(value if isinstance(value, list) else [value]):
            if inner is not None and isinstance(item, Mapping):
                found += mismatches(inner, item, f"{at}{key}[{n}].", complete and bool(item))
    return found


def keys_of(typed: type) -> set[str]:
    """The keys a TypedDict declares."""
    return set(get_type_hints(typed))


def points(indicator_id: str) -> list[Point]:
    """Three values of rising periods in the indicator's period type."""
    suffix = SUFFIX[CATALOG.indicator[indicator_id].period_type]
    return [Point(f"{year}{suffix}", value) for year, value in ((2019, 80), (2022, 84), (2024, 86))]


def indicator_docs() -> dict[str, documents.IndikatorDocument]:
    """Every indicator's summary but MISSING's."""
    return {
        i.id: indikator_summary(CATALOG, i.id, points(i.id), NOW)
        for i in CATALOG.indikatorer
        if i.id != MISSING
    }


def test_every_indicator_summary_is_an_indicator_summary_answer() -> None:
    docs = indicator_docs()
    assert any(d["baseline"] and d["target"] and d["inputs"].get("ratio") for d in docs.values())
    for doc in docs.values():
        assert set(doc) == keys_of(documents.IndikatorDocument) - {"area", "gender"}
        assert set(doc["inputs"]) == keys_of(documents.InputsDocument)
        assert mismatches(IndicatorSummary, doc) == []
        IndicatorSummary.model_validate(doc | {"area": CATALOG.root, "gender": "T"})
        # `/v1/indikatorer` serves the same fields beside the catalog entry (`id` for `indicator`).
        assert set(doc) - {"indicator"} <= IndikatorOut.model_fields.keys()


def test_the_parts_of_a_summary_are_their_answers() -> None:
    doc = next(d for d in indicator_docs().values() if d["baseline"] and d["target"])
    assert doc["baseline"]
    assert doc["target"]
    assert doc["responsible"]
    parts = [
        (BaselineOut, doc["baseline"], documents.BaselineDocument),
        (TargetOut, doc["target"], documents.TargetDocument),
        (ResponsibleOut, doc["responsible"][0], documents.ResponsibleDocument),
        (StatusInputs, doc["inputs"], documents.InputsDocument),
    ]
    for model, part, typed in parts:
        assert set(part) == keys_of(typed) == set(model.model_fields), model.__name__


def test_every_etappmal_summary_is_an_etappmal_answer() -> None:
    docs = indicator_docs()
    goals = [etappmal_summary(CATALOG, g.id, docs) for g in CATALOG.etappmal]
    assert {"no_data"} == {i["reason"] for i in goals[0]["indicators"] if i["indicator"] == MISSING}
    for goal in goals:
        assert set(goal) == keys_of(documents.EtappmalDocument)
        assert mismatches(EtappmalOut, goal) == []
        located = [i | {"area": CATALOG.root, "gender": "T"} for i in goal["indicators"]]
        EtappmalOut.model_validate(
            goal | {"indicators": located, "area": CATALOG.root, "gender": "T"}
        )


@pytest.mark.parametrize("namnd", [n.id for n in CATALOG.namnder])
def test_every_namnd_summary_is_a_namnd_answer(namnd: str) -> None:
    docs = indicator_docs()
    goals = {g.id: etappmal_summary(CATALOG, g.id, docs) for g in CATALOG.etappmal}
    values = {i.id: AreaValue("2024", 12.0, 10.0) for i in CATALOG.indikatorer}
    doc = namnd_summary(CATALOG, namnd, docs, goals, values)
    assert set(doc) == keys_of(documents.NamndDocument)
    nd = CATALOG.namnd[namnd]
    if nd.type is NamndType.STADSDELSNAMND and nd.valid_to is None:  # former ones lead no goal
        assert doc["area_comparison"]
        assert doc["etappmal"]
        assert doc["indikatorer"]
    assert mismatches(NamndRollup, doc) == []
    NamndRollup.model_validate(doc)


def test_the_risk_document_is_what_the_area_answer_shows() -> None:
    indicators = eligible(CATALOG)
    areas = [a.id for a in CATALOG.omraden if a.level is AreaLevel.STADSDELSOMRADE]
    values = {(i.id, a): 5.0 + n for i in indicators for n, a in enumerate(areas)}
    scores = risk_index(
        CATALOG, values, {i.id: 7.0 for i in indicators[1:]}, AreaLevel.STADSDELSOMRADE
    )
    doc = scores[0].as_dict()
    assert doc["groups"]
    assert doc["missing_indicators"]
    assert set(doc) == keys_of(documents.RiskDocument)
    # The API shows the index's columns of the read model and these keys of its document.
    assert set(RiskOut.model_fields) == set(RISK_COLUMNS) | set(RISK_DETAILS) | {"published"}
    assert set(RISK_DETAILS) <= set(doc)
    assert mismatches(RiskOut, {k: doc[k] for k in RISK_DETAILS}, complete=False) == []
    for group in doc["groups"]:
        assert mismatches(RiskGroupScore, group) == []
    RiskOut.model_validate({k: doc[k] for k in RISK_DETAILS})


def test_a_renamed_field_is_found() -> None:
    doc = dict(indicator_docs()[CATALOG.indikatorer[0].id])
    doc["latest"] = doc.pop("latest_value")
    assert sorted(mismatches(IndicatorSummary, doc)) == [
        "latest: not a field of IndicatorSummary",
        "latest_value: IndicatorSummary field missing from the document",
    ]
    doc["inputs"] = {"x_0" if k == "x0" else k: v for k, v in doc.pop("inputs").items()}
    assert "inputs[0].x_0: not a field of StatusInputs" in mismatches(IndicatorSummary, doc)
