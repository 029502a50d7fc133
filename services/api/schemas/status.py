"""Answer models of statuses: indicator summaries, etappmål and nämnd rollups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from services.api.schemas.common import AnswerModel, Page
from shared.domain.catalog import Direction, Gender, NamndType, Role
from shared.domain.status import StatusCode, Trend

_STATUS = (
    "Progress status: uppnatt, i_fas, viss_framgang, ingen_framgang, forsamring, saknar_mal "
    "(no target) or saknar_data (too little or stale data)."
)
_TREND = "Direction of change in the desired direction: forbattring, oforandrad or forsamring."
_WITHHELD = " Null when withheld from an anonymous reader (`published` false)."
PUBLISHED = (
    "False when a preliminary value contributes: not yet published. Under "
    "STADSPULS_API_ANONYMOUS=final a reader without a token then sees no value, status or count "
    "that depends on it (they are null), a token holder sees them."
)

# The `published` field of every answer that shows values.
Published = Annotated[bool, Field(description=PUBLISHED, examples=[True])]


class BaselineOut(AnswerModel):
    """A starting point: the value at a period."""

    period: str = Field(description="Period of the baseline value.", examples=["2019"])
    value: float = Field(description="The baseline value.", examples=[86.2])
    example: bool = Field(
        default=False,
        description="True when the value is an example, not a decision.",
        examples=[True],
    )


class TargetOut(AnswerModel):
    """A target: the value to reach by a year."""

    value: float = Field(description="The target value.", examples=[92.0])
    year: int = Field(description="The year by which it should be reached.", examples=[2030])
    example: bool = Field(
        default=False,
        description="True when the value is an example, not a decision.",
        examples=[True],
    )


class ResponsibleOut(AnswerModel):
    """A nämnd's role for an etappmål or indicator."""

    namnd: str = Field(description="Nämnd id.", examples=["utbildningsnamnden"])
    role: Role = Field(
        description="huvudansvarig (lead) or berord (involved).", examples=["huvudansvarig"]
    )


class StatusInputs(AnswerModel):
    """Every input of a status, so that a reader can check it (UN SDG progress assessment)."""

    status: StatusCode | None = Field(default=None, description=_STATUS, examples=["viss_framgang"])
    trend: Trend | None = Field(default=None, description=_TREND, examples=["forbattring"])
    reason: str | None = Field(
        default=None,
        description="Why saknar_data/saknar_mal, or a note on the judgement.",
        examples=[None],
    )
    x0: float | None = Field(default=None, description="Baseline value x₀.", examples=[86.2])
    t0: float | None = Field(
        default=None, description="Baseline time t₀ in decimal years.", examples=[2019.0]
    )
    xt: float | None = Field(default=None, description="Latest value xₜ.", examples=[88.1])
    t: float | None = Field(
        default=None, description="Latest period's start t in decimal years.", examples=[2024.0]
    )
    x_target: float | None = Field(default=None, description="Target value x*.", examples=[92.0])
    t_target: float | None = Field(
        default=None, description="Target year t* in decimal years.", examples=[2030.0]
    )
    cagr_actual: float | None = Field(
        default=None, description="(xₜ/x₀)^(1/(t−t₀)) − 1.", examples=[0.00438]
    )
    cagr_required: float | None = Field(
        default=None, description="(x*/x₀)^(1/(t*−t₀)) − 1.", examples=[0.00595]
    )
    ratio: float | None = Field(
        default=None, description="R = CAGR_actual / CAGR_required.", examples=[0.736]
    )
    baseline_period: str | None = Field(
        default=None, description="Period of x₀.", examples=["2019"]
    )
    latest_period: str | None = Field(default=None, description="Period of xₜ.", examples=["2024"])
    x0_source: str | None = Field(
        default=None,
        description="Where x₀ comes from: baseline (the catalog's) or first_period (of the data).",
        examples=["baseline"],
    )
    coverage: float | None = Field(
        default=None,
        description="Coverage of xₜ when it is computed from the children (null when reported).",
        examples=[1.0],
    )


class StatusCounts(AnswerModel):
    """How many items have each status."""

    uppnatt: int = Field(default=0, description="Items that reached their target.", examples=[0])
    i_fas: int = Field(default=0, description="Items on track (R ≥ 0.95).", examples=[1])
    viss_framgang: int = Field(
        default=0, description="Items with some progress (0.5 ≤ R < 0.95).", examples=[1]
    )
    ingen_framgang: int = Field(
        default=0, description="Items with no progress (−0.1 ≤ R < 0.5).", examples=[0]
    )
    forsamring: int = Field(default=0, description="Items getting worse (R < −0.1).", examples=[0])
    saknar_mal: int = Field(
        default=0, description="Items without a target (not judged).", examples=[1]
    )
    saknar_data: int = Field(
        default=0, description="Items with too little or stale data.", examples=[0]
    )


class IndicatorSummary(AnswerModel):
    """An indicator's status for one area and gender, with its inputs."""

    indicator: str = Field(description="Indicator id.", examples=["behorighet-gymnasiet-ak9"])
    name: str = Field(
        description="Indicator name.",
        examples=["Andel elever i åk 9 behöriga till gymnasiets nationella program"],
    )
    unit: str = Field(description="Unit of the values.", examples=["percent"])
    direction: Direction = Field(description="Desired direction.", examples=["increase"])
    status: StatusCode | None = Field(description=_STATUS + _WITHHELD, examples=["viss_framgang"])
    trend: Trend | None = Field(default=None, description=_TREND, examples=["forbattring"])
    reason: str | None = Field(
        default=None, description="Why saknar_data/saknar_mal, or a note.", examples=[None]
    )
    stale: bool = Field(
        default=False,
        description="True when the newest period is older than cadence + lag + grace.",
        examples=[False],
    )
    latest_period: str | None = Field(
        default=None, description="Newest period with a value.", examples=["2024"]
    )
    latest_value: float | None = Field(
        default=None, description="Value at the newest period.", examples=[88.1]
    )
    newest_period_age_seconds: float | None = Field(
        default=None,
        description="Seconds since the newest period ended, when computed.",
        examples=[29376000.0],
    )
    periods: int = Field(default=0, description="Periods with a value.", examples=[6])
    published: Published = True
    baseline: BaselineOut | None = Field(
        default=None, description="Baseline that judges it, if any."
    )
    target: TargetOut | None = Field(default=None, description="Target that judges it, if any.")
    inputs: StatusInputs = Field(
        default_factory=StatusInputs, description="Every input of the status."
    )
    responsible: list[ResponsibleOut] = Field(
        default_factory=list,
        description="Nämnder responsible, with roles.",
        json_schema_extra={"x-csv-join": "{namnd}:{role}"},
    )
    area: str = Field(description="Area the status is computed for.", examples=["stockholm"])
    gender: Gender = Field(description="Gender the status is computed for.", examples=["T"])


class EtappmalOut(AnswerModel):
    """An etappmål's status: the least favourable of its indicators', with theirs beside it."""

    id: str = Field(description="Etappmål id.", examples=["behorighet-gymnasiet"])
    malomrade: str = Field(description="Målområde id.", examples=["uppvaxt-och-utbildning"])
    title: str = Field(
        description="The etappmål as decided.", examples=["Andel av eleverna i årskurs 9 … ökar"]
    )
    direction: Direction = Field(description="Desired direction.", examples=["increase"])
    status: StatusCode | None = Field(description=_STATUS + _WITHHELD, examples=["viss_framgang"])
    counts: StatusCounts = Field(
        description="Its indicators per status (withheld ones not counted)."
    )
    published: Published = True
    baseline: BaselineOut | None = Field(
        default=None, description="Baseline of the headline indicator."
    )
    target: TargetOut | None = Field(default=None, description="Target of the headline indicator.")
    headline: str = Field(
        description="Id of the headline (first) indicator.", examples=["behorighet-gymnasiet-ak9"]
    )
    trend: Trend | None = Field(
        default=None, description="Trend of the headline indicator.", examples=["forbattring"]
    )
    latest_period: str | None = Field(
        default=None, description="Newest period of the headline indicator.", examples=["2024"]
    )
    latest_value: float | None = Field(
        default=None, description="Headline indicator's value at that period.", examples=[88.1]
    )
    indicators: list[IndicatorSummary] = Field(
        description="Each indicator with status, trend and latest value.",
        json_schema_extra={"x-csv-join": "{indicator}"},
    )
    responsible: list[ResponsibleOut] = Field(
        description="Responsible nämnder with roles.",
        json_schema_extra={"x-csv-join": "{namnd}:{role}"},
    )
    area: str = Field(description="Area the status is computed for.", examples=["stockholm"])
    gender: Gender = Field(description="Gender the status is computed for.", examples=["T"])
    computed_at: datetime | None = Field(
        default=None,
        description="When the aggregator computed it (null: computed on request).",
        examples=["2025-02-01T08:00:03Z"],
    )


class NamndGoal(AnswerModel):
    """An etappmål a nämnd leads or is involved in."""

    id: str = Field(description="Etappmål id.", examples=["behorighet-gymnasiet"])
    title: str = Field(
        description="The etappmål.", examples=["Andel av eleverna i årskurs 9 … ökar"]
    )
    role: Role = Field(description="The nämnd's role.", examples=["huvudansvarig"])
    status: StatusCode | None = Field(description=_STATUS + _WITHHELD, examples=["viss_framgang"])
    published: Published = True


class NamndIndicator(AnswerModel):
    """An indicator a nämnd leads or is involved in, with its city status."""

    id: str = Field(description="Indicator id.", examples=["behorighet-gymnasiet-ak9"])
    name: str = Field(description="Indicator name.", examples=["Andel elever i åk 9 behöriga …"])
    role: Role = Field(description="The nämnd's role.", examples=["huvudansvarig"])
    status: StatusCode | None = Field(description=_STATUS + _WITHHELD, examples=["viss_framgang"])
    trend: Trend | None = Field(default=None, description=_TREND, examples=["forbattring"])
    reason: str | None = Field(
        default=None, description="Why saknar_data/saknar_mal, or a note.", examples=[None]
    )
    stale: bool = Field(
        default=False, description="True when the indicator is stale.", examples=[False]
    )
    latest_period: str | None = Field(
        default=None, description="Newest period with a value.", examples=["2024"]
    )
    latest_value: float | None = Field(
        default=None, description="City value at that period.", examples=[88.1]
    )
    published: Published = True


class AreaComparison(AnswerModel):
    """A stadsdelsnämnd area's latest value of an indicator beside the city's."""

    indicator: str = Field(description="Indicator id.", examples=["uvas-16-24"])
    name: str = Field(
        description="Indicator name.",
        examples=["Andel unga 16–24 år som varken arbetar eller studerar"],
    )
    unit: str = Field(description="Unit.", examples=["percent"])
    direction: Direction = Field(description="Desired direction.", examples=["decrease"])
    period: str = Field(description="Period compared.", examples=["2024"])
    area_value: float | None = Field(default=None, description="The area's value.", examples=[9.4])
    city_value: float | None = Field(
        default=None, description="The city's value, same period.", examples=[5.1]
    )
    gap: float | None = Field(default=None, description="area_value − city_value.", examples=[4.3])
    published: Published = True


class NamndCounts(AnswerModel):
    """Counts per status of a nämnd's etappmål and indicators."""

    etappmal: StatusCounts = Field(
        description="Its etappmål per status (withheld ones not counted)."
    )
    indikatorer: StatusCounts = Field(
        description="Its indicators per status (withheld ones not counted)."
    )


class NamndRollup(AnswerModel):
    """A nämnd's rollup: what it leads or is involved in, with statuses."""

    id: str = Field(description="Nämnd id.", examples=["rinkeby-kista-sdn"])
    name: str = Field(description="Name.", examples=["Rinkeby-Kista stadsdelsnämnd"])
    type: NamndType = Field(description="Kind of nämnd or board.", examples=["stadsdelsnamnd"])
    area: str | None = Field(
        default=None, description="The area a stadsdelsnämnd owns.", examples=["rinkeby-kista"]
    )
    counts: NamndCounts = Field(description="Counts per status.")
    published: Published = True
    etappmal: list[NamndGoal] = Field(
        description="Etappmål it leads or is involved in.", json_schema_extra={"x-csv-join": "{id}"}
    )
    indikatorer: list[NamndIndicator] = Field(
        description="Indicators it leads or is involved in.",
        json_schema_extra={"x-csv-join": "{id}"},
    )
    area_comparison: list[AreaComparison] = Field(
        default_factory=list,
        description="For a stadsdelsnämnd: its area's values against the city.",
        json_schema_extra={"x-csv-join": "{indicator}"},
    )
    computed_at: datetime | None = Field(
        default=None,
        description="When the aggregator computed it (null: nothing computed yet).",
        examples=["2025-02-01T08:00:03Z"],
    )


class EtappmalPage(Page[EtappmalOut]):
    """A page of etappmål."""


class NamndPage(Page[NamndRollup]):
    """A page of nämnd rollups."""
