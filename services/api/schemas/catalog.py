"""Answer models of the catalog (`GET /v1/catalog`) and of indicators with their status."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from services.api.schemas.areas import ParentLinkOut
from services.api.schemas.common import AnswerModel, Page
from services.api.schemas.status import (
    BaselineOut,
    Published,
    ResponsibleOut,
    StatusInputs,
    TargetOut,
)
from shared.domain.catalog import (
    DEFAULT_MIN_COVERAGE,
    AreaLevel,
    Direction,
    Gender,
    Kind,
    NamndType,
    PeriodType,
    RiskGroup,
)
from shared.domain.status import StatusCode, Trend


class StrategyOut(AnswerModel):
    """A numbered strategy of a målområde."""

    id: str = Field(description="Roman numeral within the målområde.", examples=["III"])
    text: str = Field(description="The strategy.", examples=["Minska skolsegregationen …"])


class MalomradeOut(AnswerModel):
    """A goal area of the roadmap."""

    id: str = Field(description="Målområde id.", examples=["uppvaxt-och-utbildning"])
    name: str = Field(description="Name.", examples=["Uppväxt och utbildning"])
    strategies: list[StrategyOut] = Field(default_factory=list, description="Its strategies.")


class EtappmalEntry(AnswerModel):
    """An etappmål as the catalog defines it."""

    id: str = Field(description="Etappmål id.", examples=["behorighet-gymnasiet"])
    malomrade: str = Field(description="Målområde id.", examples=["uppvaxt-och-utbildning"])
    title: str = Field(
        description="The etappmål as decided.", examples=["Andel av eleverna i årskurs 9 … ökar"]
    )
    direction: Direction = Field(description="Desired direction.", examples=["increase"])
    baseline: BaselineOut | None = Field(
        default=None, description="Baseline of the headline indicator."
    )
    target: TargetOut | None = Field(default=None, description="Target of the headline indicator.")
    indicators: list[str] = Field(
        description="Indicator ids, headline first.", examples=[["behorighet-gymnasiet-ak9"]]
    )
    responsible: list[ResponsibleOut] = Field(
        default_factory=list, description="Responsible nämnder with roles."
    )
    aggregation: str = Field(
        default="least_favourable",
        description="How indicator statuses combine.",
        examples=["least_favourable"],
    )


class IndikatorBase(AnswerModel):
    """The catalog fields of an indicator."""

    id: str = Field(description="Indicator id.", examples=["behorighet-gymnasiet-ak9"])
    name: str = Field(
        description="Name.",
        examples=["Andel elever i åk 9 behöriga till gymnasiets nationella program"],
    )
    unit: str = Field(description="Unit: percent, count, per_1000, sek, …", examples=["percent"])
    kind: Kind = Field(
        description="ratio (Σnumerator/Σdenominator), count (sums) or level (not rolled up).",
        examples=["ratio"],
    )
    direction: Direction = Field(description="Desired direction.", examples=["increase"])
    period_type: PeriodType = Field(description="Period granularity.", examples=["year"])
    area_levels: list[AreaLevel] = Field(
        description="Area levels it is reported at.", examples=[["stad", "stadsdelsomrade"]]
    )
    genders: list[Gender] = Field(
        description="Genders it is broken down by.", examples=[["T", "K", "M"]]
    )
    cadence: str = Field(description="Expected time between periods (ISO 8601).", examples=["P1Y"])
    publication_lag: str = Field(
        default="P0D",
        description="Usual delay from period end to data (ISO 8601).",
        examples=["P2M"],
    )
    grace: str = Field(
        default="P30D", description="Slack before it counts as stale (ISO 8601).", examples=["P30D"]
    )
    min_coverage: float = Field(
        default=DEFAULT_MIN_COVERAGE,
        description="Least coverage of a computed value that is judged (below: low_coverage).",
        examples=[0.8],
    )
    sources: list[str] = Field(
        default_factory=list,
        description="Source ids allowed to report it.",
        examples=[["utbildningsforvaltningen"]],
    )
    risk_group: RiskGroup | None = Field(
        default=None, description="Social-risk index group, if it belongs to one.", examples=[None]
    )
    baseline: BaselineOut | None = Field(
        default=None, description="Baseline (in `/v1/indikatorer`: the one that judges it)."
    )
    target: TargetOut | None = Field(
        default=None, description="Target (in `/v1/indikatorer`: the one that judges it)."
    )
    annual_targets: dict[str, float] = Field(
        default_factory=dict, description="Årsmål by year.", examples=[{"2025": 89.0}]
    )
    responsible: list[ResponsibleOut] = Field(
        default_factory=list,
        description="Responsible nämnder with roles.",
        json_schema_extra={"x-csv-join": "{namnd}:{role}"},
    )


class NamndEntry(AnswerModel):
    """A nämnd or bolagsstyrelse."""

    id: str = Field(description="Nämnd id.", examples=["rinkeby-kista-sdn"])
    name: str = Field(description="Name.", examples=["Rinkeby-Kista stadsdelsnämnd"])
    type: NamndType = Field(description="Kind.", examples=["stadsdelsnamnd"])
    area: str | None = Field(
        default=None, description="Area a stadsdelsnämnd owns.", examples=["rinkeby-kista"]
    )
    valid_from: date | None = Field(
        default=None, description="First day it exists (inclusive).", examples=[None]
    )
    valid_to: date | None = Field(
        default=None, description="Last day it exists (inclusive).", examples=[None]
    )


class OmradeEntry(AnswerModel):
    """An area of the tree stad → stadsdelsområde → stadsdel."""

    id: str = Field(description="Area id.", examples=["rinkeby-kista"])
    name: str = Field(description="Name.", examples=["Rinkeby-Kista"])
    level: AreaLevel = Field(description="Level in the tree.", examples=["stadsdelsomrade"])
    parent: str | None = Field(default=None, description="Parent area id.", examples=["stockholm"])
    ytterstad: bool = Field(default=False, description="Part of ytterstaden.", examples=[True])
    fokus: bool = Field(
        default=False, description="A focus area of the programme.", examples=[True]
    )
    code: str | None = Field(default=None, description="Official code, if any.", examples=["0180"])
    valid_from: date | None = Field(
        default=None, description="First day the area is valid (inclusive).", examples=[None]
    )
    valid_to: date | None = Field(
        default=None, description="Last day the area is valid (inclusive).", examples=[None]
    )
    parents: list[ParentLinkOut] = Field(
        default_factory=list,
        description="Parent links with their validity, when the parent changed (else empty).",
        json_schema_extra={"x-csv-join": "{id}:{valid_from}..{valid_to}"},
    )


class KallaEntry(AnswerModel):
    """A source system and the indicators it may report."""

    id: str = Field(description="Source id.", examples=["utbildningsforvaltningen"])
    name: str = Field(description="Name.", examples=["Utbildningsförvaltningen, elevstatistik"])
    indicators: list[str] = Field(
        default_factory=list,
        description="Indicator ids it may report.",
        examples=[["behorighet-gymnasiet-ak9"]],
    )


class CatalogOut(AnswerModel):
    """The whole catalog (no secrets)."""

    malomraden: list[MalomradeOut] = Field(description="Goal areas.")
    etappmal: list[EtappmalEntry] = Field(description="Milestone goals.")
    indikatorer: list[IndikatorBase] = Field(description="Indicators.")
    namnder: list[NamndEntry] = Field(description="Nämnder and bolagsstyrelser.")
    omraden: list[OmradeEntry] = Field(description="Areas.")
    kallor: list[KallaEntry] = Field(description="Source systems.")


class IndikatorOut(IndikatorBase):
    """An indicator with its status for one area and gender (default: the city, total)."""

    etappmal: list[str] = Field(
        default_factory=list,
        description="Etappmål it belongs to.",
        examples=[["behorighet-gymnasiet"]],
    )
    area: str = Field(description="Area the status is computed for.", examples=["stockholm"])
    gender: Gender = Field(description="Gender the status is computed for.", examples=["T"])
    status: StatusCode | None = Field(
        description="Progress status (null when withheld from an anonymous reader).",
        examples=["viss_framgang"],
    )
    trend: Trend | None = Field(
        default=None, description="Trend in the desired direction.", examples=["forbattring"]
    )
    reason: str | None = Field(
        default=None, description="Why saknar_data/saknar_mal, or a note.", examples=[None]
    )
    stale: bool = Field(
        default=False, description="True when the newest period is too old.", examples=[False]
    )
    latest_period: str | None = Field(
        default=None, description="Newest period with a value.", examples=["2024"]
    )
    latest_value: float | None = Field(
        default=None, description="Value at the newest period.", examples=[88.1]
    )
    newest_period_age_seconds: float | None = Field(
        default=None, description="Seconds since the newest period ended.", examples=[29376000.0]
    )
    periods: int = Field(default=0, description="Periods with a value.", examples=[6])
    published: Published = True
    inputs: StatusInputs = Field(
        default_factory=StatusInputs, description="Every input of the status."
    )


class IndikatorPage(Page[IndikatorOut]):
    """A page of indicators with status."""
