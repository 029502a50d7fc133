"""Answer models of series rows: what the read model knows of one area, period and gender."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from services.api.schemas.common import AnswerModel, Page
from services.api.schemas.status import Published
from shared.domain.catalog import Gender
from shared.domain.observation import ObservationStatus
from shared.domain.rollup import Origin, SeriesLevel

VersionOutcome = Literal["applied", "superseded", "duplicate"]


class SeriesRow(AnswerModel):
    """One series (indicator, area, period, gender) as the read model currently holds it."""

    indicator: str = Field(description="Indicator id.", examples=["behorighet-gymnasiet-ak9"])
    area: str = Field(
        description="Area id (or a virtual area: ytterstaden, fokusomraden).", examples=["rinkeby"]
    )
    area_level: SeriesLevel = Field(description="Level of the area.", examples=["stadsdel"])
    period: str = Field(description="Period.", examples=["2024"])
    period_start: float = Field(
        description="Start of the period in decimal years.", examples=[2024.0]
    )
    gender: Gender = Field(description="T total, K kvinnor, M män.", examples=["T"])
    unit: str = Field(description="Unit of the value.", examples=["percent"])
    value: float | None = Field(
        description="The value a reader should use: reported if any, else computed.",
        examples=[71.3],
    )
    numerator: float | None = Field(
        description="Numerator behind the value (ratio indicators).", examples=[214.0]
    )
    denominator: float | None = Field(
        description="Denominator behind the value (ratio indicators).", examples=[300.0]
    )
    origin: Origin | None = Field(
        description="reported by a source, or computed from the children's values.",
        examples=["reported"],
    )
    status: ObservationStatus | None = Field(
        description="The source's status of a reported value (null when computed).",
        examples=["final"],
    )
    coverage: float | None = Field(
        description="Share of the child areas that contribute to the computed value.",
        examples=[1.0],
    )
    n_reporting: int = Field(
        description="Child areas contributing to the computed value.", examples=[4]
    )
    n_children: int = Field(description="Child areas in all.", examples=[4])
    computed_value: float | None = Field(
        description="The value computed from the children, even when a reported one wins.",
        examples=[71.1],
    )
    reported_value: float | None = Field(
        description="The value the source reported, if any.", examples=[71.3]
    )
    source: str | None = Field(
        description="Source of the reported value.", examples=["utbildningsforvaltningen"]
    )
    observation_id: str | None = Field(
        description="Id of the winning reported version.",
        examples=["6f1c2a7e-0d1b-4c55-9d8a-3f2b1e0c9a11"],
    )
    comment: str | None = Field(
        description="The source's comment on the reported value.", examples=[None]
    )
    updated_at: datetime | None = Field(
        description="When the source produced the reported version.",
        examples=["2025-02-01T08:00:00Z"],
    )
    received_at: datetime | None = Field(
        description="When ingest received it (knowledge time).", examples=["2025-02-01T08:00:01Z"]
    )
    committed_at: datetime | None = Field(
        description="When the read model last changed this row.", examples=["2025-02-01T08:00:02Z"]
    )
    retracted: bool = Field(
        default=False,
        description="The winning version is a retraction: the series has no reported value.",
        examples=[False],
    )
    tree: date = Field(
        description="The day whose area tree the row was computed with: the period's last day"
        " (`GET /v1/omraden?valid_on=` lists that tree).",
        examples=["2024-12-31"],
    )
    published: Published = True


class VersionRow(AnswerModel):
    """One version a source sent for a series, as it was received."""

    indicator: str = Field(description="Indicator id.", examples=["behorighet-gymnasiet-ak9"])
    area: str = Field(description="Area id.", examples=["rinkeby"])
    period: str = Field(description="Period.", examples=["2024"])
    gender: Gender = Field(description="T total, K kvinnor, M män.", examples=["T"])
    observation_id: str = Field(
        description="Id of the version.", examples=["6f1c2a7e-0d1b-4c55-9d8a-3f2b1e0c9a11"]
    )
    source: str = Field(description="Source that sent it.", examples=["utbildningsforvaltningen"])
    value: float | None = Field(description="The value sent (null: a retraction).", examples=[71.3])
    numerator: float | None = Field(description="Numerator sent.", examples=[214.0])
    denominator: float | None = Field(description="Denominator sent.", examples=[300.0])
    retract: bool = Field(description="The version withdraws the series' value.", examples=[False])
    status: ObservationStatus = Field(description="preliminary or final.", examples=["final"])
    updated_at: datetime = Field(
        description="When the source produced the version.", examples=["2025-02-01T08:00:00Z"]
    )
    received_at: datetime = Field(
        description="When ingest received it.", examples=["2025-02-01T08:00:01Z"]
    )
    outcome: VersionOutcome = Field(
        description="What the version did when it arrived: applied (became the winner), "
        "superseded (older than the winner then) or duplicate (its id was received before).",
        examples=["applied"],
    )
    published: Published = True


class VersionPage(Page[VersionRow]):
    """A page of versions."""


class SeriesPage(Page[SeriesRow]):
    """A page of series rows."""
