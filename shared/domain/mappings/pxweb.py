"""A PxWeb table mapped to an indicator: which variables and codes are which coordinates.

Pure: no I/O. An indicator's `pxweb:` holds one mapping or a list of them (e.g. one table before
the 2020 district reform, one after). `pxweb_problems` cross-checks mappings against a catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from shared.domain.catalog import Catalog, Indikator

GenderCode = Literal["T", "K", "M"]
_TABLE_PATH = re.compile(r"^[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*$")
_TABLE_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")


class PxWebApi(StrEnum):
    """The PxWeb API version a table is served by."""

    V1 = "v1"
    V2 = "v2"


class PxWebMapping(BaseModel):
    """One PxWeb table's cells as one indicator's observations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="The catalog source (källa) whose connector pulls this table.")
    api: PxWebApi = Field(description="`v1` (POST a query to the table path) or `v2` (table id).")
    base_url: str = Field(
        pattern=r"^https?://\S+[^/]$",
        description="v1: up to the language and database (`…/v1/doris/sv/ssd`); v2: `…/api/v2`.",
    )
    table: str = Field(description="v1: the table's path under the base; v2: the table id.")
    region: str = Field(default="Region", description="Code of the region variable.")
    time: str = Field(default="Tid", description="Code of the time variable.")
    gender: str | None = Field(default=None, description="Code of the gender variable, if any.")
    contents: str = Field(default="ContentsCode", description="Code of the contents variable.")
    value: str | None = Field(default=None, description="Contents code of the value.")
    numerator: str | None = Field(default=None, description="Contents code of the numerator.")
    denominator: str | None = Field(default=None, description="Contents code of the denominator.")
    areas: dict[str, str] = Field(min_length=1, description="Region code → area id.")
    genders: dict[str, GenderCode] = Field(
        default_factory=dict, description="Gender code → T, K or M (with `gender`)."
    )
    fixed: dict[str, str] = Field(
        default_factory=dict, description="Other variables: code → the one value selected."
    )
    scale: float = Field(default=1.0, gt=0, description="Factor from the table's value to ours.")

    @model_validator(mode="after")
    def _coherent(self) -> PxWebMapping:
        path = _TABLE_PATH if self.api is PxWebApi.V1 else _TABLE_ID
        if not path.match(self.table):
            raise ValueError(f"table {self.table!r} is not a {self.api.value} table path or id")
        if (self.numerator is None) != (self.denominator is None):
            raise ValueError("numerator and denominator are mapped together or not at all")
        if self.value is None and self.numerator is None:
            raise ValueError("map at least `value` or `numerator` and `denominator`")
        if (self.gender is None) != (not self.genders):
            raise ValueError("`gender` (the variable) and `genders` (its codes) come together")
        named = [self.region, self.time, self.contents, *([self.gender] if self.gender else [])]
        if len(set(named)) != len(named):
            raise ValueError(f"region, time, gender and contents are different variables: {named}")
        if clash := sorted(set(self.fixed) & set(named)):
            raise ValueError(f"`fixed` names a mapped variable: {', '.join(clash)}")
        codes = [c for c in (self.value, self.numerator, self.denominator) if c is not None]
        if len(set(codes)) != len(codes):
            raise ValueError(f"value, numerator and denominator are different contents: {codes}")
        return self

    @property
    def contents_codes(self) -> tuple[str, ...]:
        """The contents codes to fetch: value, numerator, denominator (those mapped)."""
        return tuple(c for c in (self.value, self.numerator, self.denominator) if c is not None)

    @property
    def key(self) -> str:
        """The table this mapping reads, as the cursor names it."""
        return f"{self.api.value}:{self.base_url}/{self.table}"


def _listed(given: Any) -> Any:
    """One mapping may be written without the list around it."""
    return [given] if isinstance(given, dict) else given


PxWebMappings = Annotated[tuple[PxWebMapping, ...], BeforeValidator(_listed)]


def mappings_of(ind: Indikator) -> tuple[PxWebMapping, ...]:
    """An indicator's PxWeb mappings (none, one or several)."""
    return ind.pxweb


def pxweb_problems(catalog: Catalog) -> Iterator[tuple[str, str]]:
    """Yield (path, message) for every PxWeb mapping that does not fit its catalog."""
    for n, ind in enumerate(catalog.indikatorer):
        for k, mapping in enumerate(mappings_of(ind)):
            yield from _fits(f"indikatorer[{n}].pxweb[{k}]", mapping, ind, catalog)


def _fits(at: str, m: PxWebMapping, ind: Indikator, catalog: Catalog) -> Iterator[tuple[str, str]]:
    if m.source not in catalog.source:
        yield f"{at}.source", f"unknown kallor id {m.source!r}"
    elif m.source not in ind.sources:
        yield f"{at}.source", f"{ind.id!r} does not name {m.source!r} in its sources"
    seen: dict[str, str] = {}
    for code, area_id in m.areas.items():
        area = catalog.area.get(area_id)
        if area is None:
            yield f"{at}.areas.{code}", f"unknown omraden id {area_id!r}"
        elif area.level not in ind.area_levels:
            yield f"{at}.areas.{code}", f"{ind.id!r} is not reported at level {area.level.value}"
        if area_id in seen:
            yield f"{at}.areas.{code}", f"{area_id!r} is already region code {seen[area_id]!r}"
        seen.setdefault(area_id, code)
    for code, gender in m.genders.items():
        if gender not in {g.value for g in ind.genders}:
            yield f"{at}.genders.{code}", f"{ind.id!r} is not reported for gender {gender}"
    if len(set(m.genders.values())) != len(m.genders):
        yield f"{at}.genders", "two codes map to the same gender"
    yield from _numbers(at, m, ind, catalog.root)


def _numbers(at: str, m: PxWebMapping, ind: Indikator, root: str) -> Iterator[tuple[str, str]]:
    from shared.domain.catalog import Kind  # the catalog imports this module

    if ind.kind is not Kind.RATIO and m.numerator is not None:
        yield f"{at}.numerator", f"{ind.id!r} is a {ind.kind.value}, not a ratio"
    below_city = any(area != root for area in m.areas.values())
    if ind.kind is Kind.RATIO and m.numerator is None and below_city:
        yield (
            f"{at}.numerator",
            f"{ind.id!r} is a ratio: map numerator and denominator so its areas roll up",
        )
