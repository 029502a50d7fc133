"""The documents the read side serves, as typed dicts: what `summary`, `status` and `risk` build.

Pure: types only. They stay JSON-native (enum values as strings, lists, numbers, None) because the
aggregator stores them in the read model and sends them on the rollups topic as they are. The
API's answer models (`services.api.schemas`) describe the same fields; tests/unit/test_documents.py
holds the two together.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class BaselineDocument(TypedDict):
    """A baseline: the value at a period (`Baseline.model_dump()`)."""

    period: str
    value: float
    example: bool


class TargetDocument(TypedDict):
    """A target: the value to reach by a year (`Target.model_dump()`)."""

    value: float
    year: int
    example: bool


class ResponsibleDocument(TypedDict):
    """A nämnd's role for an etappmål or indicator."""

    namnd: str
    role: str


class InputsDocument(TypedDict, total=False):
    """Every input of a status (`StatusResult.as_dict`); empty when nothing was judged."""

    status: str
    trend: str | None
    reason: str | None
    x0: float | None
    t0: float | None
    xt: float | None
    t: float | None
    x_target: float | None
    t_target: float | None
    cagr_actual: float | None
    cagr_required: float | None
    ratio: float | None
    baseline_period: str | None
    latest_period: str | None
    x0_source: str | None
    coverage: float | None


class StatusFields(TypedDict):
    """An indicator's status as its summary has it and a nämnd's rollup repeats it."""

    status: str
    trend: str | None
    reason: str | None
    stale: bool
    latest_period: str | None
    latest_value: float | None
    published: bool  # False: a preliminary value contributes (withheld from anonymous readers)


class IndikatorDocument(StatusFields):
    """An indicator's status with its inputs (`indikator_summary`)."""

    indicator: str
    name: str
    unit: str
    direction: str
    newest_period_age_seconds: float | None
    periods: int
    baseline: BaselineDocument | None
    target: TargetDocument | None
    inputs: InputsDocument
    responsible: list[ResponsibleDocument]
    # Set by the read API for the area and gender it computed or looked up; not stored.
    area: NotRequired[str]
    gender: NotRequired[str]


class EtappmalDocument(TypedDict):
    """An etappmål's status, its indicators' beside it (`etappmal_summary`)."""

    id: str
    malomrade: str
    title: str
    direction: str
    status: str
    counts: dict[str, int]
    published: bool
    baseline: BaselineDocument | None
    target: TargetDocument | None
    headline: str
    indicators: list[IndikatorDocument]
    responsible: list[ResponsibleDocument]


class NamndEtappmal(TypedDict):
    """An etappmål a nämnd leads or is involved in."""

    id: str
    title: str
    role: str
    status: str
    published: bool


class NamndIndikator(StatusFields):
    """An indicator a nämnd leads or is involved in, with its city status."""

    id: str
    name: str
    role: str


class AreaComparisonDocument(TypedDict):
    """A stadsdelsnämnd area's latest value of an indicator beside the city's."""

    indicator: str
    name: str
    unit: str
    direction: str
    period: str
    area_value: float | None
    city_value: float | None
    gap: float | None
    published: bool


class NamndCountsDocument(TypedDict):
    """Counts per status of a nämnd's etappmål and indicators."""

    etappmal: dict[str, int]
    indikatorer: dict[str, int]


class NamndDocument(TypedDict):
    """A nämnd's rollup (`namnd_summary`)."""

    id: str
    name: str
    type: str
    area: str | None
    counts: NamndCountsDocument
    published: bool
    etappmal: list[NamndEtappmal]
    indikatorer: list[NamndIndikator]
    area_comparison: list[AreaComparisonDocument]


class RelativeDocument(TypedDict):
    """One indicator of an area against the city in the risk index."""

    indicator: str
    value: float
    city: float
    relative: float


class GroupScoreDocument(TypedDict):
    """One risk group's score and the relatives behind it."""

    group: str
    score: float
    indicators: list[RelativeDocument]


class RiskDocument(TypedDict):
    """An area's social-risk index (`RiskScore.as_dict`)."""

    area: str
    level: str
    score: float | None
    rank: int | None
    out_of: int
    n_indicators: int
    n_groups: int
    groups: list[GroupScoreDocument]
    missing_indicators: list[str]
    missing_groups: list[str]
