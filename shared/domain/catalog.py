"""The catalog: målområden, etappmål, indikatorer, nämnder, områden and källor as frozen models.

Pure: no I/O. `shared.catalog.loader` reads the YAML file into these models; everything else
(ingest validation, rollups, status, the API) reads the catalog through `Catalog`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.mappings.connector import ConnectorConfig
from shared.domain.mappings.kolada import KoladaMapping
from shared.domain.mappings.pxweb import PxWebMappings

if TYPE_CHECKING:
    from shared.domain.areas import AreaTrees

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# The factor between numerator/denominator and a ratio indicator's value, by unit (else 1).
RATIO_SCALE: dict[str, float] = {
    "percent": 100.0,
    "share": 1.0,
    "per_1000": 1000.0,
    "per_100000": 100_000.0,
}
# Units of a share: a part of a whole, so 0 ≤ numerator ≤ denominator and 0 ≤ value ≤ scale.
SHARE_UNITS = frozenset({"percent", "share"})
# The least share of an area's children that must report before its computed value is judged.
DEFAULT_MIN_COVERAGE = 0.8
# `User:` and a name; never the wildcard `User:*`, which would let anyone write the source's topic.
KAFKA_PRINCIPAL = re.compile(r"^User:[^\s*]+$")
DURATION = re.compile(r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<days>\d+)D)?$")


class Direction(StrEnum):
    """The desired direction of an etappmål or indicator."""

    INCREASE = "increase"
    DECREASE = "decrease"

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is better."""
        return 1 if self is Direction.INCREASE else -1


class Kind(StrEnum):
    """How an indicator's values combine over areas."""

    RATIO = "ratio"  # Σnumerator / Σdenominator
    COUNT = "count"  # sums
    LEVEL = "level"  # not rolled up


class PeriodType(StrEnum):
    """The period granularity an indicator is reported at."""

    YEAR = "year"
    TERTIAL = "tertial"
    QUARTER = "quarter"
    MONTH = "month"
    TERM = "term"


class AreaLevel(StrEnum):
    """Levels of the area tree (virtual areas sit beside it)."""

    STAD = "stad"
    STADSDELSOMRADE = "stadsdelsomrade"
    STADSDEL = "stadsdel"


class Gender(StrEnum):
    """Kolada convention: T total, K kvinnor, M män."""

    T = "T"
    K = "K"
    M = "M"


TOTAL = Gender.T.value  # the gender of totals, the one the city-level statuses are computed for


class RiskGroup(StrEnum):
    """The four groups of the social-risk index (Västra Götalandsmodellen)."""

    SOCIALA_RISKFAKTORER = "sociala_riskfaktorer"
    HALSA = "halsa"
    SAKERHET_TRYGGHET = "sakerhet_trygghet"
    FORSORJNING = "forsorjning"


class Role(StrEnum):
    """A nämnd's role for an etappmål or indicator."""

    HUVUDANSVARIG = "huvudansvarig"
    BEROD = "berord"


class NamndType(StrEnum):
    """Kinds of nämnder and bolagsstyrelser."""

    FACKNAMND = "facknamnd"
    STADSDELSNAMND = "stadsdelsnamnd"
    KOMMUNSTYRELSEN = "kommunstyrelsen"
    BOLAGSSTYRELSE = "bolagsstyrelse"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Valid(_Frozen):
    """Something valid from `valid_from` to `valid_to` (ISO dates, inclusive; None: unbounded)."""

    valid_from: date | None = Field(
        default=None, description="First day it is valid (inclusive); none: always was."
    )
    valid_to: date | None = Field(
        default=None, description="Last day it is valid (inclusive); none: still is."
    )

    def valid_on(self, day: date) -> bool:
        """True when `day` lies within the validity."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )

    def validity(self) -> str:
        """The validity as text: `2020-07-01–`, `–2020-06-30`, `always`."""
        if self.valid_from is None and self.valid_to is None:
            return "always"
        return f"{self.valid_from or ''}–{self.valid_to or ''}"


class Duration(_Frozen):
    """A calendar duration in months and days, written ISO 8601 style (`P1Y`, `P3M`, `P30D`)."""

    months: int = Field(default=0, ge=0)
    days: int = Field(default=0, ge=0)

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse `P1Y`, `P4M`, `P1Y6M`, `P45D`; raise ValueError otherwise."""
        match = DURATION.match(text)
        if not match or text == "P":
            raise ValueError(f"{text!r} is not a duration like P1Y, P4M or P30D")
        parts = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
        return cls(months=12 * parts["years"] + parts["months"], days=parts["days"])

    def iso(self) -> str:
        """The ISO 8601 text of this duration."""
        years, months = divmod(self.months, 12)
        text = "P" + (f"{years}Y" if years else "") + (f"{months}M" if months else "")
        text += f"{self.days}D" if self.days or text == "P" else ""
        return text


class Baseline(_Frozen):
    """A starting point: the value at a period."""

    period: str = Field(description="Period of the baseline value, e.g. `2019`.")
    value: float = Field(description="Value at that period.")
    example: bool = Field(
        default=False, description="True when the value is an example, not a decision."
    )


class Target(_Frozen):
    """A target: the value to reach by a year."""

    value: float = Field(description="Target value.")
    year: int = Field(description="Year by which the value should be reached.")
    example: bool = Field(
        default=False, description="True when the value is an example, not a decision."
    )


class Responsibility(_Frozen):
    """A nämnd's role for an etappmål or indicator."""

    namnd: str
    role: Role


class Strategy(_Frozen):
    """A numbered strategy (I, II, …) of a målområde."""

    id: str
    text: str


class Malomrade(_Frozen):
    """One of the four goal areas of the roadmap."""

    id: str
    name: str
    strategies: tuple[Strategy, ...] = ()


class Etappmal(_Frozen):
    """A milestone goal; its baseline and target belong to its first (headline) indicator."""

    id: str
    malomrade: str
    title: str
    direction: Direction
    baseline: Baseline | None = None
    target: Target | None = None
    indicators: tuple[str, ...] = Field(min_length=1)
    responsible: tuple[Responsibility, ...] = ()
    aggregation: str = Field(
        default="least_favourable", description="How indicator statuses combine."
    )

    @property
    def headline(self) -> str:
        """The id of the headline indicator."""
        return self.indicators[0]


class Indikator(_Frozen):
    """An indicator: what is measured, how it combines, who reports it, how often."""

    id: str
    name: str
    unit: str = Field(description="`percent`, `count`, `number`, `sek`, …")
    kind: Kind
    direction: Direction
    period_type: PeriodType
    area_levels: tuple[AreaLevel, ...] = Field(min_length=1)
    genders: tuple[Gender, ...] = (Gender.T,)
    cadence: Duration = Field(description="Expected time between periods.")
    publication_lag: Duration = Field(
        default=Duration(), description="Usual delay from period end to data."
    )
    grace: Duration = Field(
        default=Duration(days=30), description="Slack before the indicator counts as stale."
    )
    min_coverage: float = Field(
        default=DEFAULT_MIN_COVERAGE,
        gt=0,
        le=1,
        description="Least coverage (share of children reporting) of a judged computed value.",
    )
    sources: tuple[str, ...] = ()
    risk_group: RiskGroup | None = None
    baseline: Baseline | None = None
    target: Target | None = None
    annual_targets: dict[int, float] = Field(default_factory=dict)
    responsible: tuple[Responsibility, ...] = ()
    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))

    kolada: KoladaMapping | None = Field(
        default=None, description="How the Kolada connector maps a KPI to this indicator."
    )
    pxweb: PxWebMappings = Field(default=(), description="PxWeb tables it is pulled from.")
    min: float | None = Field(default=None, description="The least plausible value, if any.")
    max: float | None = Field(default=None, description="The greatest plausible value, if any.")

    @property
    def ratio_scale(self) -> float:
        """value = ratio_scale · numerator / denominator for ratio indicators."""
        return RATIO_SCALE.get(self.unit, 1.0)

    @cached_property
    def is_share(self) -> bool:
        """A ratio of a part to its whole (unit `percent` or `share`)."""
        return self.kind is Kind.RATIO and self.unit in SHARE_UNITS

    @cached_property
    def bounds(self) -> tuple[float | None, float | None]:
        """The plausible range of a value: `min`/`max`, for a share by default 0…ratio_scale."""
        if self.is_share:
            low = 0.0 if self.min is None else self.min
            return low, self.ratio_scale if self.max is None else self.max
        return self.min, self.max


class Namnd(_Valid):
    """A nämnd or bolagsstyrelse; a stadsdelsnämnd owns its area."""

    id: str
    name: str
    type: NamndType
    area: str | None = None


class ParentLink(_Valid):
    """An area's parent over a span of days; a missing bound is the child's own."""

    id: str = Field(description="Parent area id.")


class Omrade(_Valid):
    """An area of the tree stad → stadsdelsområde → stadsdel, valid over a span of days."""

    id: str
    name: str
    level: AreaLevel
    parent: str | None = Field(
        default=None, description="Parent area id (with `parents`: the newest link's)."
    )
    parents: tuple[ParentLink, ...] = Field(
        default=(), description="Parent links with their validity, when the parent changed."
    )
    ytterstad: bool = False
    fokus: bool = False
    code: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _newest_parent(cls, data: Any) -> Any:
        """`parent` is the newest link's parent when only `parents` is given."""
        if isinstance(data, dict) and data.get("parents") and data.get("parent") is None:
            links = [ParentLink.model_validate(link) for link in data["parents"]]
            data = data | {"parent": newest(links).id}
        return data

    @property
    def links(self) -> tuple[ParentLink, ...]:
        """The parent links with their bounds filled in from the area's own validity."""
        given = self.parents or ((ParentLink(id=self.parent),) if self.parent else ())
        return tuple(
            link.model_copy(
                update={
                    "valid_from": link.valid_from or self.valid_from,
                    "valid_to": link.valid_to or self.valid_to,
                }
            )
            for link in given
        )


def newest(links: list[ParentLink] | tuple[ParentLink, ...]) -> ParentLink:
    """The link that starts last (an open start is the earliest)."""
    return max(links, key=lambda link: link.valid_from or date.min)


class Kalla(_Frozen):
    """A source system and the indicators it may report."""

    id: str
    name: str
    indicators: tuple[str, ...] = ()
    kafka_principal: str | None = Field(
        default=None,
        pattern=KAFKA_PRINCIPAL.pattern,
        description="The Kafka principal that writes this source's raw topic (default `User:<id>`).",
    )
    connector: ConnectorConfig | None = Field(
        default=None, description="Set for a source a connector pulls (Kolada, PxWeb)."
    )

    @property
    def principal(self) -> str:
        """The Kafka principal allowed to write this source's raw topic."""
        return self.kafka_principal or f"User:{self.id}"


class CatalogError(ValueError):
    """A catalog that does not hold together; `problems` lists (path, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


class Catalog(_Frozen):
    """The whole catalog, cross-checked, with lookups by id."""

    malomraden: tuple[Malomrade, ...]
    etappmal: tuple[Etappmal, ...]
    indikatorer: tuple[Indikator, ...]
    namnder: tuple[Namnd, ...]
    omraden: tuple[Omrade, ...]
    kallor: tuple[Kalla, ...]

    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))

    @model_validator(mode="after")
    def _cross_check(self) -> Catalog:
        problems = list(cross_check(self))
        if problems:
            raise CatalogError(problems)
        return self

    @cached_property
    def indicator(self) -> dict[str, Indikator]:
        """Indicators by id."""
        return {i.id: i for i in self.indikatorer}

    @cached_property
    def area(self) -> dict[str, Omrade]:
        """Areas by id."""
        return {a.id: a for a in self.omraden}

    @cached_property
    def source(self) -> dict[str, Kalla]:
        """Sources by id."""
        return {s.id: s for s in self.kallor}

    @cached_property
    def goal(self) -> dict[str, Etappmal]:
        """Etappmål by id."""
        return {e.id: e for e in self.etappmal}

    @cached_property
    def namnd(self) -> dict[str, Namnd]:
        """Nämnder by id."""
        return {n.id: n for n in self.namnder}

    @cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        """Direct children of every area, on any day (empty for leaves); see `trees` for one day."""
        kids: dict[str, list[str]] = {a.id: [] for a in self.omraden}
        for a in self.omraden:
            for link in a.links:
                if a.id not in kids[link.id]:
                    kids[link.id].append(a.id)
        return {k: tuple(v) for k, v in kids.items()}

    @cached_property
    def trees(self) -> AreaTrees:
        """The area tree of any day."""
        from shared.domain.areas import AreaTrees  # areas builds on this module

        return AreaTrees(self)

    @cached_property
    def root(self) -> str:
        """The id of the city (the one area without a parent)."""
        return next(a.id for a in self.omraden if a.parent is None)

    def goals_of_indicator(self, indicator_id: str) -> tuple[Etappmal, ...]:
        """The etappmål an indicator belongs to."""
        return tuple(e for e in self.etappmal if indicator_id in e.indicators)

    def target_of(self, indicator_id: str) -> tuple[Baseline | None, Target | None]:
        """Baseline and target that judge an indicator: its own, else its etappmål's if headline."""
        ind = self.indicator[indicator_id]
        baseline, target = ind.baseline, ind.target
        for goal in self.goals_of_indicator(indicator_id):
            if goal.headline == indicator_id:
                baseline = baseline or goal.baseline
                target = target or goal.target
        return baseline, target

    def responsible_for(self, indicator_id: str) -> tuple[Responsibility, ...]:
        """Nämnder responsible for an indicator: its own entries, then those of its etappmål."""
        seen: dict[str, Responsibility] = {}
        own = self.indicator[indicator_id].responsible
        inherited = tuple(r for g in self.goals_of_indicator(indicator_id) for r in g.responsible)
        for r in (*own, *inherited):
            seen.setdefault(r.namnd, r)
        return tuple(seen.values())

    def lead_of(self, indicator_id: str) -> str | None:
        """The huvudansvarig nämnd of an indicator, if any."""
        return next(
            (r.namnd for r in self.responsible_for(indicator_id) if r.role is Role.HUVUDANSVARIG),
            None,
        )


def cross_check(catalog: Catalog) -> Iterator[tuple[str, str]]:
    """Yield (path, message) for every broken reference or rule in a catalog."""
    sections: dict[str, tuple[BaseModel, ...]] = {
        "malomraden": catalog.malomraden,
        "etappmal": catalog.etappmal,
        "indikatorer": catalog.indikatorer,
        "namnder": catalog.namnder,
        "omraden": catalog.omraden,
        "kallor": catalog.kallor,
    }
    ids: dict[str, set[str]] = {}
    for name, items in sections.items():
        seen: set[str] = set()
        for n, item in enumerate(items):
            item_id = str(getattr(item, "id"))  # noqa: B009 - every section item has an id
            if not SLUG.match(item_id):
                yield f"{name}[{n}].id", f"{item_id!r} is not a lower-case slug"
            if item_id in seen:
                yield f"{name}[{n}].id", f"duplicate id {item_id!r}"
            seen.add(item_id)
        ids[name] = seen

    def missing(path: str, ref: str | None, section: str) -> Iterator[tuple[str, str]]:
        if ref is not None and ref not in ids[section]:
            yield path, f"unknown {section} id {ref!r}"

    for n, goal in enumerate(catalog.etappmal):
        yield from missing(f"etappmal[{n}].malomrade", goal.malomrade, "malomraden")
        for k, ind_id in enumerate(goal.indicators):
            yield from missing(f"etappmal[{n}].indicators[{k}]", ind_id, "indikatorer")
        for k, resp in enumerate(goal.responsible):
            yield from missing(f"etappmal[{n}].responsible[{k}].namnd", resp.namnd, "namnder")
    for n, ind in enumerate(catalog.indikatorer):
        for k, src_id in enumerate(ind.sources):
            yield from missing(f"indikatorer[{n}].sources[{k}]", src_id, "kallor")
        for k, resp in enumerate(ind.responsible):
            yield from missing(f"indikatorer[{n}].responsible[{k}].namnd", resp.namnd, "namnder")
    for n, nd in enumerate(catalog.namnder):
        yield from missing(f"namnder[{n}].area", nd.area, "omraden")
    for n, src in enumerate(catalog.kallor):
        for k, ind_id in enumerate(src.indicators):
            yield from missing(f"kallor[{n}].indicators[{k}]", ind_id, "indikatorer")
    roots = [a.id for a in catalog.omraden if a.parent is None]
    if len(roots) != 1:
        yield "omraden", f"exactly one area must have no parent, found {len(roots)}"
    for n, area in enumerate(catalog.omraden):
        yield from missing(f"omraden[{n}].parent", area.parent, "omraden")
        for k, link in enumerate(area.parents):
            yield from missing(f"omraden[{n}].parents[{k}].id", link.id, "omraden")
