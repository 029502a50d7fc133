"""Answer models of areas: the list with the social-risk index, and the area profile."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from services.api.schemas.common import Answer, Page
from services.api.schemas.status import DirectionText, StatusInputs, StatusText, TrendText


class RiskOut(Answer):
    """An area's social-risk index (Västra Götalandsmodellen): four groups and the composite."""

    sociala_riskfaktorer: float | None = Field(
        default=None, description="Score of the group sociala riskfaktorer.", examples=[1.8]
    )
    halsa: float | None = Field(
        default=None, description="Score of the group hälsa.", examples=[1.2]
    )
    sakerhet_trygghet: float | None = Field(
        default=None, description="Score of the group säkerhet & trygghet.", examples=[1.5]
    )
    forsorjning: float | None = Field(
        default=None, description="Score of the group försörjning.", examples=[2.1]
    )
    composite: float | None = Field(
        default=None, description="The composite index.", examples=[1.65]
    )
    rank: int | None = Field(
        default=None, description="Rank among areas of its level, 1 = highest risk.", examples=[1]
    )
    computed_at: datetime | None = Field(
        default=None,
        description="When the aggregator computed it.",
        examples=["2025-02-01T08:00:03Z"],
    )


class OmradeOut(Answer):
    """An area with its social-risk index."""

    id: str = Field(description="Area id.", examples=["rinkeby-kista"])
    name: str = Field(description="Name.", examples=["Rinkeby-Kista"])
    level: Literal["stad", "stadsdelsomrade", "stadsdel", "virtual"] = Field(
        description="Level; virtual areas (ytterstaden, fokusomraden) are unions of stadsdelsområden.",
        examples=["stadsdelsomrade"],
    )
    parent: str | None = Field(default=None, description="Parent area id.", examples=["stockholm"])
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
    risk: RiskOut = Field(
        default_factory=RiskOut, description="Social-risk index (all null until computed)."
    )


class ProfileRow(Answer):
    """An area's latest value of one indicator against the city's, with the area's own status."""

    indicator: str = Field(description="Indicator id.", examples=["uvas-16-24"])
    name: str = Field(
        description="Indicator name.",
        examples=["Andel unga 16–24 år som varken arbetar eller studerar"],
    )
    unit: str = Field(description="Unit.", examples=["percent"])
    direction: DirectionText = Field(description="Desired direction.", examples=["decrease"])
    area: str = Field(description="Area id.", examples=["rinkeby-kista"])
    gender: Literal["T", "K", "M"] = Field(description="Gender.", examples=["T"])
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
    origin: Literal["reported", "computed"] | None = Field(
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
    status: StatusText = Field(
        description="The area's own progress status for this indicator.",
        examples=["ingen_framgang"],
    )
    trend: TrendText | None = Field(
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


class OmradeProfile(OmradeOut):
    """An area profile: its latest value per indicator, the gap to the city, and its risk index."""

    indikatorer: list[ProfileRow] = Field(
        description="One row per indicator with data for the area."
    )


class OmradePage(Page[OmradeOut]):
    """A page of areas."""


class ProfilePage(Page[ProfileRow]):
    """A page of an area's profile rows."""
