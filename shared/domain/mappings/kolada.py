"""An indicator's `kolada:` mapping: which KPI, which Kolada ids are which areas, genders, scale."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Kolada's gender codes: the catalog's letters (T total, K kvinnor, M män).
GenderCode = Literal["T", "K", "M"]


class KoladaMapping(BaseModel):
    """One Kolada KPI as one indicator's values for the mapped areas."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kpi: str = Field(pattern=r"^[A-Z]\d{5}$", description="The KPI id, e.g. `N15436`.")
    areas: dict[str, str] = Field(
        min_length=1,
        description="Kolada municipality ids (or school ids with `ou`) → area ids: `0180: stockholm`.",
    )
    ou: bool = Field(
        default=False,
        description="The ids are Kolada's school units (`/oudata`), not municipalities.",
    )
    genders: dict[GenderCode, GenderCode] | None = Field(
        default=None,
        description="Kolada gender → the indicator's; none: T, K, M as the indicator has them."
        " A gender not mapped is skipped.",
    )
    scale: float = Field(
        default=1.0,
        gt=0,
        description="Factor from Kolada's unit to the indicator's: per 100 000 → per 1000 is 0.01.",
    )

    def gender_map(self, indicator_genders: tuple[str, ...]) -> dict[str, str]:
        """Kolada gender → catalog gender, for an indicator broken down by `indicator_genders`."""
        if self.genders is not None:
            return {str(k): str(v) for k, v in self.genders.items()}
        return {g: g for g in indicator_genders}
