"""Answer models of areas: the list with the social-risk index, and the area profile."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from services.api.schemas.common import AnswerModel, Page
from services.api.schemas.status import Published, StatusInputs
from shared.domain.catalog import Direction, Gender, RiskGroup
from shared.domain.rollup import Origin, SeriesLevel
from shared.domain.status import StatusCode, Trend


class RiskRelative(AnswerModel):
    """One indicator of an area against the city in the risk index."""

    indicator: str = Field(description="Indicator id.", examples=["ekonomiskt-bistand-hushall"])
    value: float = Field(
        description="The area's value at the city's latest period.", examples=[12.0]
    )
    city: float = Field(description="The city's value at that period.", examples=[4.0])
    relative: float = Field(description="100 = as the city, higher = more risk.", examples=[300.0])


class RiskGroupScore(AnswerModel):
    """One risk group's score: the mean relative of its indicators the area has."""

    group: RiskGroup = Field(description="Risk group.", examples=["forsorjning"])
    score: float = Field(
        description="Mean relative of the group (100 = as the city).", examples=[212.5]
    )
    indicators: list[RiskRelative] = Field(description="The relatives that went into it.")


class RiskOut(AnswerModel):
    """An area's social-risk index (Västra Götalandsmodellen); 100 = as the city, higher = more risk."""

    sociala_riskfaktorer: float | None = Field(
        default=None, description="Score of the group sociala riskfaktorer.", examples=[180.0]
    )
    halsa: float | None = Field(
        default=None, description="Score of the group hälsa.", examples=[120.0]
    )
    sakerhet_trygghet: float | None = Field(
        default=None, description="Score of the group säkerhet & trygghet.", examples=[150.0]
    )
    forsorjning: float | None = Field(
        default=None, description="Score of the group försörjning.", examples=[212.5]
    )
    composite: float | None = Field(
        default=None, description="Mean of the group scores the area has.", examples=[165.6]
    )
    rank: int | None = Field(
        default=None,
        description="Rank among scored areas of its level, 1 = highest risk.",
        examples=[1],
    )
    out_of: int | None = Field(
        default=None, description="How many areas of the level have a score.", examples=[13]
    )
    n_indicators: int | None = Field(
        default=None, description="Indicators that went into the score.", examples=[9]
    )
    n_groups: int | None = Field(
        default=None, description="Groups that went into the score.", examples=[4]
    )
    missing_indicators: list[str] = Field(
        default_factory=list,
        description="Risk indicators without a value for the area.",
        examples=[["sjukpenningtal"]],
    )
    missing_groups: list[str] = Field(
        default_factory=list, description="Groups with no indicator for the area.", examples=[[]]
    )
    groups: list[RiskGroupScore] = Field(
        default_factory=list, description="Each group's score and the relatives behind it."
    )
    computed_at: datetime | None = Field(
        default=None,
        description="When the aggregator computed it.",
        examples=["2025-02-01T08:00:03Z"],
    )
    published: Published = True


class ParentLinkOut(AnswerModel):
    """An area's parent over a span of days (inclusive; null: unbounded)."""

    id: str = Field(description="Parent area id.", examples=["alvsjo"])
    valid_from: date | None = Field(
        default=None, description="First day of the link.", examples=[None]
    )
    valid_to: date | None = Field(
        default=None, description="Last day of the link.", examples=["2020-06-30"]
    )


class OmradeOut(AnswerModel):
    """An area with its social-risk index."""

    id: str = Field(description="Area id.", examples=["rinkeby-kista"])
    name: str = Field(description="Name.", examples=["Rinkeby-Kista"])
    level: SeriesLevel = Field(
        description="Level; virtual areas (ytterstaden, fokusomraden) are unions of stadsdelsområden.",
        examples=["stadsdelsomrade"],
    )
    parent: str | None = Field(
        default=None,
        description="Parent area id: the newest parent when the parent changed.",
        examples=["hagersten-alvsjo"],
    )
    ytterstad: bool = Field(default=False, description="Part of ytterstaden.", examples=[True])
    fokus: bool = Field(
        default=False, description="A focus area of the programme.", examples=[True]
    )
    code: str | None = Field(default=None, description="Official code, if any.", examples=[None])
    namnd: str | None = Field(
        default=None,
        description="The stadsdelsnämnd that owns the area, if any.",
        examples=["rinkeby-kista-sdn"],
    )
    valid_from: date | None = Field(
        default=None,
        description="First day the area is valid (inclusive); null: always was.",
        examples=[None],
    )
    valid_to: date | None = Field(
        default=None,
        description="Last day the area is valid (inclusive); null: still is. A former area.",
        examples=["2020-06-30"],
    )
    parents: list[ParentLinkOut] = Field(
        default_factory=list,
        description="Parent history: each parent with the days it is the parent (CSV: "
        "`parent:from..to`, `;` between links).",
        json_schema_extra={"x-csv-join": "{id}:{valid_from}..{valid_to}"},
    )
    risk: RiskOut = Field(
        default_factory=RiskOut, description="Social-risk index (all null until computed)."
    )


class ProfileRow(AnswerModel):
    """An area's latest value of one indicator against the city's, with the area's own status."""

    indicator: str = Field(description="Indicator id.", examples=["uvas-16-24"])
    name: str = Field(
        description="Indicator name.",
        examples=["Andel unga 16–24 år som varken arbetar eller studerar"],
    )
    unit: str = Field(description="Unit.", examples=["percent"])
    direction: Direction = Field(description="Desired direction.", examples=["decrease"])
    area: str = Field(description="Area id.", examples=["rinkeby-kista"])
    gender: Gender = Field(description="Gender.", examples=["T"])
    period: str | None = Field(
        default=None, description="The area's newest period with a value.", examples=["2024"]
    )
    value: float | None = Field(
        default=None, description="The area's value at that period.", examples=[9.4]
    )
    numerator: float | None = Field(
        default=None, description="Its numerator (ratio indicators).", examples=[1210.0]
    )
    denominator: float | None = Field(
        default=None, description="Its denominator (ratio indicators).", examples=[12870.0]
    )
    origin: Origin | None = Field(
        default=None, description="reported or computed.", examples=["computed"]
    )
    city_value: float | None = Field(
        default=None, description="The city's value for the same period and gender.", examples=[5.1]
    )
    gap: float | None = Field(default=None, description="value − city_value.", examples=[4.3])
    compared_to_city: Literal["battre", "samre", "lika"] | None = Field(
        default=None,
        description="The area against the city in the desired direction: battre (better), samre (worse) or lika.",
        examples=["samre"],
    )
    status: StatusCode | None = Field(
        description="The area's own progress status for this indicator (null when withheld).",
        examples=["ingen_framgang"],
    )
    trend: Trend | None = Field(
        default=None, description="The area's trend.", examples=["forbattring"]
    )
    inputs: StatusInputs = Field(
        default_factory=StatusInputs, description="Every input of the area's status."
    )
    received_at: datetime | None = Field(
        default=None,
        description="When the area's value was received (reported values).",
        examples=["2025-02-01T08:00:01Z"],
    )
    published: Published = True


class OmradeProfile(OmradeOut):
    """An area profile: its latest value per indicator, the gap to the city, and its risk index."""

    indikatorer: list[ProfileRow] = Field(
        description="One row per indicator with data for the area."
    )


class OmradePage(Page[OmradeOut]):
    """A page of areas."""


class ProfilePage(Page[ProfileRow]):
    """A page of an area's profile rows."""
