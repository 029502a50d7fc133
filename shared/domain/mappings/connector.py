"""A källa's `connector:` block: which connector pulls it, how often, and from when on a first run."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ConnectorKind(StrEnum):
    """The connectors the project has."""

    KOLADA = "kolada"
    PXWEB = "pxweb"


class ConnectorConfig(BaseModel):
    """How a pulled source is run (`stadspuls serve connector NAME`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ConnectorKind = Field(description="Which connector pulls this source.")
    schedule: timedelta = Field(
        default=timedelta(days=1),
        gt=timedelta(0),
        description="Time between runs, ISO 8601 (`P1D`, `PT6H`); the alert allows twice this.",
    )
    backfill_from: int | None = Field(
        default=None,
        ge=1900,
        le=2100,
        description="First year a full run asks for (none: every year the source has).",
    )
