"""Kolada v3's data answer as models: a page of items, each with one value per gender.

Unknown fields are ignored (Kolada adds some); a missing or mistyped one fails the page.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Loose(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class KoladaValue(_Loose):
    """One gender's value of an item; `value` null means no value (not zero)."""

    gender: str
    value: float | None = None
    count: int = 1
    status: str | None = ""
    isdeleted: bool = False


class KoladaItem(_Loose):
    """One KPI's values for one municipality (or school unit) and year."""

    kpi: str
    municipality: str | None = None
    ou: str | None = None
    period: int
    values: list[KoladaValue]
    isdeleted: bool = False

    @model_validator(mode="after")
    def _placed(self) -> KoladaItem:
        if self.municipality is None and self.ou is None:
            raise ValueError("an item names its municipality or its ou")
        return self

    @property
    def where(self) -> str:
        """The school id of school data, else the municipality id."""
        return self.ou or self.municipality or ""


class KoladaPage(_Loose):
    """One page of `/v3/data` or `/v3/oudata`."""

    values: list[KoladaItem]
    count: int = Field(ge=0)
    next_url: str | None = None
