"""Frozen reports."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.api.schemas.common import AnswerModel, Page


class RapportOut(AnswerModel):
    """A frozen report: a named knowledge time."""

    id: str = Field(
        description="The report's id; `rapport=ID` on a read endpoint.", examples=["T2-2025"]
    )
    title: str | None = Field(description="Its title.", examples=["Tertialrapport 2, 2025"])
    as_of: datetime = Field(
        description="The knowledge time it answers as of (RFC 3339).",
        examples=["2025-09-15T00:00:00Z"],
    )
    frozen_at: datetime = Field(
        description="When it was frozen (RFC 3339).", examples=["2025-09-16T08:30:00Z"]
    )


class RapportPage(Page[RapportOut]):
    """A page of frozen reports."""
