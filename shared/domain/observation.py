"""The `observation.v1` event: one value of one indicator for one area, period and gender.

The wire format lives here once. Sources send `ObservationIn` rows; the ingest service adds
`observation_id`, `source`, `received_at` and `schema` and publishes an `Observation` on the canonical
topic, keyed by its series key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.domain.catalog import Gender

SCHEMA = "observation.v1"
MAX_COMMENT = 1000


class ObservationStatus(StrEnum):
    """Whether the source considers the value settled."""

    PRELIMINARY = "preliminary"
    FINAL = "final"


def series_key(indicator: str, area: str, period: str, gender: str) -> str:
    """The series key `{indicator}|{area}|{period}|{gender}`: Kafka key of every observation."""
    return f"{indicator}|{area}|{period}|{gender}"


class ObservationIn(BaseModel):
    """One row as a source system sends it (JSON object or CSV row)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    indicator: str = Field(
        description="Indicator id from the catalog.", examples=["behorighet-gymnasiet-ak9"]
    )
    area: str = Field(description="Area id from the catalog.", examples=["rinkeby"])
    period: str = Field(
        description="Period matching the indicator's period type.", examples=["2024"]
    )
    gender: Gender = Field(
        default=Gender.T, description="T total, K kvinnor, M män.", examples=["T"]
    )
    value: float | None = Field(
        default=None, description="The value; required unless `retract`.", examples=[71.3]
    )
    numerator: float | None = Field(
        default=None, description="Numerator, required for ratio indicators.", examples=[214]
    )
    denominator: float | None = Field(
        default=None, description="Denominator, required for ratio indicators.", examples=[300]
    )
    status: ObservationStatus = Field(
        default=ObservationStatus.FINAL, description="preliminary or final.", examples=["final"]
    )
    updated_at: AwareDatetime | None = Field(
        default=None,
        description="When the source produced this version (RFC 3339); default: time received.",
        examples=["2025-02-01T08:00:00Z"],
    )
    comment: str | None = Field(
        default=None,
        max_length=MAX_COMMENT,
        description="Optional free text.",
        examples=["revised"],
    )
    retract: bool = Field(
        default=False, description="True withdraws the series' value.", examples=[False]
    )
    observation_id: UUID | None = Field(
        default=None,
        description="Optional id from the source; else a UUID is made.",
        examples=["6f9619ff-8b86-d011-b42d-00c04fc964ff"],
    )


class Observation(BaseModel):
    """A validated observation as published on `stadspuls.observations.v1`."""

    # numbers must be finite (NaN and infinities are refused while the JSON is parsed)
    model_config = ConfigDict(frozen=True, populate_by_name=True, allow_inf_nan=False)

    schema_: Literal["observation.v1"] = Field(
        default="observation.v1", alias="schema", description="Event schema."
    )
    observation_id: UUID = Field(description="Unique id of this version.")
    source: str = Field(
        description="Source system that sent it (from its key, never from the body)."
    )
    received_at: AwareDatetime = Field(description="When ingest received it.")
    indicator: str
    area: str
    period: str
    gender: Gender = Gender.T
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    status: ObservationStatus = ObservationStatus.FINAL
    updated_at: AwareDatetime
    comment: str | None = None
    retract: bool = False

    @cached_property
    def id_text(self) -> str:
        """`observation_id` as text, made once (the aggregator's keys and rows use it)."""
        return str(self.observation_id)

    @property
    def series_key(self) -> str:
        """This observation's series key."""
        return series_key(self.indicator, self.area, self.period, self.gender.value)

    @property
    def version(self) -> tuple[datetime, str]:
        """Version order within a series: greatest (updated_at, observation_id) wins."""
        return version_of(self.updated_at, self.id_text)

    def to_json(self) -> bytes:
        """Serialise for Kafka (with `schema`, UTC times)."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


def version_of(updated_at: datetime, observation_id: UUID | str) -> tuple[datetime, str]:
    """The comparable version of an observation."""
    return updated_at.astimezone(UTC), str(observation_id)


def utcnow() -> datetime:
    """The current time in UTC (the one clock of the domain's callers)."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive one is taken as UTC (the project's convention, SQLite's storage)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
