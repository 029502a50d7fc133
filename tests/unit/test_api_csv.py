"""CSV answers: columns follow the answer models, values round-trip, empty lists keep a header."""

from __future__ import annotations

import csv
import io
import typing
from datetime import UTC, datetime
from enum import Enum

import pytest
from pydantic import BaseModel, Field

from services.api.csv import cell, columns, header, neutralise, render
from services.api.schemas.areas import OmradeOut, ProfileRow
from services.api.schemas.catalog import IndikatorOut
from services.api.schemas.series import SeriesRow
from services.api.schemas.status import EtappmalOut, NamndRollup


class Inner(BaseModel):
    period: str
    value: float


class Tag(BaseModel):
    namnd: str
    role: str


class Row(BaseModel):
    id: str
    baseline: Inner | None = None
    ids: list[str] = []
    tags: list[Tag] = Field(default=[], json_schema_extra={"x-csv-join": "{namnd}:{role}"})
    hidden: list[Inner] = []
    mapping: dict[str, float] = {}
    flag: bool = False
    at: datetime | None = None


def parse(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


def test_columns_flatten_objects_join_lists_and_leave_out_mappings() -> None:
    assert header(Row) == ["id", "baseline_period", "baseline_value", "ids", "tags", "flag", "at"]


def test_rows_render_every_kind_of_value() -> None:
    item = {
        "id": "a,b",  # a comma forces quoting
        "baseline": {"period": "2019", "value": 86.2},
        "ids": ["x", "y"],
        "tags": [
            {"namnd": "kommunstyrelsen", "role": "berord"},
            {"namnd": "sdn", "role": "huvudansvarig"},
        ],
        "hidden": [{"period": "2020", "value": 1.0}],
        "mapping": {"2025": 1.0},
        "flag": True,
        "at": datetime(2025, 2, 1, 8, 0, tzinfo=UTC),
    }
    [row] = parse(render(Row, [item]))
    assert row == {
        "id": "a,b",
        "baseline_period": "2019",
        "baseline_value": "86.2",
        "ids": "x;y",
        "tags": "kommunstyrelsen:berord;sdn:huvudansvarig",
        "flag": "true",
        "at": "2025-02-01T08:00:00Z",
    }


def test_missing_values_are_empty_cells() -> None:
    [row] = parse(render(Row, [{"id": "a", "baseline": None, "at": None}]))
    assert row["baseline_period"] == row["baseline_value"] == row["at"] == row["ids"] == ""
    assert row["flag"] == ""


def test_an_empty_list_still_has_its_header() -> None:
    body = render(SeriesRow, [])
    assert body.decode() == ",".join(header(SeriesRow)) + "\r\n"


def test_floats_keep_full_precision() -> None:
    assert float(cell(0.1 + 0.2)) == 0.1 + 0.2
    assert cell(None) == ""
    assert cell(False) == "false"
    assert cell(datetime(2025, 1, 1, 12, 0)) == "2025-01-01T12:00:00Z"  # naive means UTC


def test_every_list_model_has_flat_unique_documented_columns() -> None:
    for model in (EtappmalOut, NamndRollup, IndikatorOut, SeriesRow, OmradeOut):
        names = header(model)
        assert len(names) == len(set(names)), model
        assert all(name and name == name.lower() and " " not in name for name in names)
    assert "counts_i_fas" in header(EtappmalOut)
    assert "counts_indikatorer_forsamring" in header(NamndRollup)
    assert {"inputs_x0", "inputs_ratio", "responsible"} <= set(header(IndikatorOut))
    assert {"risk_composite", "risk_rank", "risk_missing_groups"} <= set(header(OmradeOut))
    assert [c.name for c in columns(SeriesRow)][:4] == ["indicator", "area", "area_level", "period"]


class Comment(BaseModel):
    comment: str | None = None
    value: float | None = None
    baseline: Inner | None = None
    ids: list[str] = []


@pytest.mark.parametrize(
    "text",
    ["=cmd|' /C calc'!A0", "@SUM(1+1)", "+1+1", "-2+3", '=HYPERLINK("http://x")', "\t=1", "\r=1"],
)
def test_text_that_would_start_a_formula_gets_a_leading_quote(text: str) -> None:
    [row] = parse(render(Comment, [{"comment": text, "ids": [text, "x"]}]))
    assert row["comment"] == "'" + text
    assert row["ids"] == "'" + text + ";x"
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["", "ok", "a=b", "1+1", "'=already", " =1", "–2", "2024-05"])
def test_other_text_is_left_as_it_is(text: str) -> None:
    [row] = parse(render(Comment, [{"comment": text, "ids": [text]}]))
    assert row["comment"] == text
    assert neutralise(text) == text


def test_numbers_stay_numbers_negative_ones_too() -> None:
    item = {"comment": "-", "value": -1.5, "baseline": {"period": "-x", "value": -2.25}}
    [row] = parse(render(Comment, [item]))
    assert row == {
        "comment": "'-",
        "value": "-1.5",
        "baseline_period": "'-x",
        "baseline_value": "-2.25",
        "ids": "",
    }
    assert neutralise(-1.5) == -1.5
    assert neutralise(None) is None


def test_only_the_rows_that_need_it_are_rewritten() -> None:
    items = [{"comment": "fine"}, {"comment": None}, {"comment": "=1+1"}, {"comment": "@a"}]
    assert [r["comment"] for r in parse(render(Comment, items))] == ["fine", "", "'=1+1", "'@a"]


def test_enumerated_columns_cannot_start_a_formula() -> None:
    # Columns of enum or Literal values are not rewritten; their values, which the code defines,
    # must not need it.
    def enumerated(model: type[BaseModel]) -> set[str]:
        found: set[str] = set()
        for field in model.model_fields.values():
            for annotation in (field.annotation, *typing.get_args(field.annotation)):
                for arg in (annotation, *typing.get_args(annotation)):
                    if typing.get_origin(arg) is typing.Literal:
                        found |= {str(v) for v in typing.get_args(arg)}
                    elif isinstance(arg, type) and issubclass(arg, Enum):
                        found |= {str(member.value) for member in arg}
                    elif isinstance(arg, type) and issubclass(arg, BaseModel):
                        found |= enumerated(arg)
        return found

    values = set().union(
        *(
            enumerated(m)
            for m in (EtappmalOut, NamndRollup, IndikatorOut, SeriesRow, OmradeOut, ProfileRow)
        )
    )
    assert {"T", "i_fas", "reported", "virtual", "stadsdelsnamnd"} <= values
    assert [v for v in values if neutralise(v) != v] == []
