"""Hypothesis strategies for rollup tests: a small fixed catalog and event streams over it.

The catalog has three stadsdelsområden with two or three stadsdelar each and one without any, so
that a stadsdelsområde can be a leaf; two are ytterstad, one is fokus; stadsdelar carry the flags
too, to prove only stadsdelsområden feed the virtual areas. `REORGANISED` adds a change of the tree
on 2024-04-01 (a stadsdelsområde ends, one begins, stadsdelar move both ways), so 2023 and 2024-Q1
roll up in the old tree and 2024 and 2024-Q2 in the new one. Streams mix corrections, retractions,
reported parents, exact repeats and ties in `updated_at` broken by `observation_id`, and name only
areas valid in their period's tree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import TypeGuard
from uuid import UUID, uuid4

from hypothesis import strategies as st

from shared.domain.catalog import (
    RATIO_SCALE,
    AreaLevel,
    Catalog,
    Duration,
    Gender,
    Indikator,
    Kind,
    Omrade,
    ParentLink,
)
from shared.domain.observation import Observation, ObservationStatus
from shared.domain.periods import parse_period

CITY = "stockholm"
SHARE = "andel-behoriga"  # ratio, percent
RATE = "fall-per-invanare"  # ratio, plain number
COUNT = "antal-lagenheter"  # count
LEVEL = "medianinkomst"  # level
QUARTERLY = "andel-arbetslosa"  # ratio, percent, quarters

BASE_TIME = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
ZONES = (UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5)))
PERIODS = {SHARE: ("2023", "2024"), RATE: ("2024",), COUNT: ("2024",), LEVEL: ("2024",)}
PERIODS[QUARTERLY] = ("2024-Q1", "2024-Q2")


def _area(id_: str, level: AreaLevel, parent: str | None, **flags: bool | date) -> Omrade:
    return Omrade.model_validate(
        {"id": id_, "name": id_.title(), "level": level, "parent": parent, **flags}
    )


def _moved(id_: str, old: str, new: str, **flags: bool) -> Omrade:
    """A stadsdel whose parent is `old` until 2024-03-31 and `new` from 2024-04-01."""
    links = (ParentLink(id=old, valid_to=CHANGE - DAY), ParentLink(id=new, valid_from=CHANGE))
    return Omrade(id=id_, name=id_.title(), level=AreaLevel.STADSDEL, parents=links, **flags)


def _indicator(id_: str, kind: Kind, unit: str, period_type: str = "year") -> Indikator:
    return Indikator.model_validate(
        {
            "id": id_,
            "name": id_,
            "unit": unit,
            "kind": kind,
            "direction": "increase",
            "period_type": period_type,
            "area_levels": ["stad", "stadsdelsomrade", "stadsdel"],
            "genders": ["T", "K", "M"],
            "cadence": Duration(months=12),
        }
    )


def small_catalog() -> Catalog:
    """The fixed test catalog: stad → 4 stadsdelsområden → 0–3 stadsdelar, 5 indicators."""
    return _catalog(_areas())


def reorganised_catalog() -> Catalog:
    """The small catalog with a reorganisation on 2024-04-01.

    norrort (fokus, with akalla and, until then, kista) ends on 2024-03-31: akalla and kista move to
    rinkeby-kista; soderort begins on 2024-04-01 and takes katarina from sodermalm.
    """
    sdo, sd = AreaLevel.STADSDELSOMRADE, AreaLevel.STADSDEL
    fokus = {"ytterstad": True, "fokus": True}
    areas = [a for a in _areas() if a.id not in {"kista", "katarina"}] + [
        _area("norrort", sdo, CITY, valid_to=CHANGE - DAY, **fokus),
        _moved("akalla", "norrort", "rinkeby-kista", **fokus),
        _moved("kista", "norrort", "rinkeby-kista", **fokus),
        _area("soderort", sdo, CITY, valid_from=CHANGE),
        _moved("katarina", "sodermalm", "soderort"),
        _area("bandhagen", sd, "soderort", valid_from=CHANGE),
    ]
    return _catalog(areas)


def _areas() -> list[Omrade]:
    sdo, sd = AreaLevel.STADSDELSOMRADE, AreaLevel.STADSDEL
    return [
        _area(CITY, AreaLevel.STAD, None),
        _area("rinkeby-kista", sdo, CITY, ytterstad=True, fokus=True),
        _area("rinkeby", sd, "rinkeby-kista", ytterstad=True, fokus=True),
        _area("kista", sd, "rinkeby-kista", ytterstad=True, fokus=True),
        _area("husby", sd, "rinkeby-kista", ytterstad=True, fokus=True),
        _area("bromma", sdo, CITY, ytterstad=True),
        _area("abrahamsberg", sd, "bromma", ytterstad=True),
        _area("alvik", sd, "bromma", ytterstad=True),
        _area("sodermalm", sdo, CITY),
        _area("hogalid", sd, "sodermalm"),
        _area("katarina", sd, "sodermalm"),
        _area("skarpnack", sdo, CITY),
    ]


def _catalog(areas: list[Omrade]) -> Catalog:
    indicators = [
        _indicator(SHARE, Kind.RATIO, "percent"),
        _indicator(RATE, Kind.RATIO, "number"),
        _indicator(COUNT, Kind.COUNT, "count"),
        _indicator(LEVEL, Kind.LEVEL, "sek"),
        _indicator(QUARTERLY, Kind.RATIO, "percent", "quarter"),
    ]
    return Catalog(
        malomraden=(),
        etappmal=(),
        indikatorer=tuple(indicators),
        namnder=(),
        omraden=tuple(areas),
        kallor=(),
    )


CHANGE, DAY = date(2024, 4, 1), timedelta(days=1)
CATALOG = small_catalog()
AREAS = tuple(a.id for a in CATALOG.omraden)
REORGANISED = reorganised_catalog()


def valid_areas(catalog: Catalog, period: str) -> tuple[str, ...]:
    """The areas valid on the period's last day, the day of the tree it rolls up in."""
    day = parse_period(period).end - DAY
    return tuple(a.id for a in catalog.omraden if a.valid_on(day))


def observation(
    indicator: str,
    area: str,
    period: str,
    *,
    gender: str = "T",
    value: float | None = None,
    numerator: float | None = None,
    denominator: float | None = None,
    updated_at: datetime = BASE_TIME,
    observation_id: UUID | str | None = None,
    retract: bool = False,
    status: str = "final",
) -> Observation:
    """An observation for tests; a ratio's value follows from numerator and denominator."""
    if value is None and numerator is not None and denominator:
        scale = 100.0 if CATALOG.indicator[indicator].unit == "percent" else 1.0
        value = scale * numerator / denominator
    return Observation(
        observation_id=UUID(str(observation_id)) if observation_id else uuid4(),
        source="test",
        received_at=updated_at,
        indicator=indicator,
        area=area,
        period=period,
        gender=Gender(gender),
        value=value,
        numerator=numerator,
        denominator=denominator,
        updated_at=updated_at,
        retract=retract,
        status=ObservationStatus(status),
    )


Group = tuple[str, str, str]  # indicator, period, gender

GROUPS: tuple[Group, ...] = tuple(
    (ind, period, gender) for ind in sorted(PERIODS) for period in PERIODS[ind] for gender in "TK"
)


@st.composite
def observations(
    draw: st.DrawFn, groups: tuple[Group, ...] = GROUPS, catalog: Catalog | None = None
) -> Observation:
    """One valid observation of one of `groups`, for any area valid in its period's tree."""
    indicator, period, gender = draw(st.sampled_from(groups))
    area = draw(st.sampled_from(valid_areas(catalog or CATALOG, period)))
    # Few distinct instants and several zones: ties in updated_at are common, across offsets too.
    instant = BASE_TIME + timedelta(minutes=draw(st.integers(0, 4)))
    updated_at = instant.astimezone(draw(st.sampled_from(ZONES)))
    oid = draw(st.uuids())
    if draw(st.integers(0, 4)) == 0:
        return observation(
            indicator,
            area,
            period,
            gender=gender,
            updated_at=updated_at,
            observation_id=oid,
            retract=True,
        )
    kind = CATALOG.indicator[indicator].kind
    status = draw(st.sampled_from(("final", "final", "preliminary")))
    if kind is Kind.RATIO:
        den = draw(st.integers(1, 500))
        num = draw(st.integers(0, den))
        return observation(
            indicator,
            area,
            period,
            gender=gender,
            numerator=num,
            denominator=den,
            updated_at=updated_at,
            observation_id=oid,
            status=status,
        )
    amount = draw(st.integers(0, 100_000)) / 10
    return observation(
        indicator,
        area,
        period,
        gender=gender,
        value=amount,
        updated_at=updated_at,
        observation_id=oid,
        status=status,
    )


@st.composite
def streams(
    draw: st.DrawFn, min_events: int = 0, max_events: int = 40, catalog: Catalog | None = None
) -> list[Observation]:
    """Distinct observations plus exact repeats of some, in a random order.

    Each stream keeps to one to three (indicator, period, gender) groups, so that series collide
    (corrections, retractions of reported values) and children and parents meet in one tree.
    """
    groups = tuple(draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=3, unique=True)))
    events = draw(
        st.lists(
            observations(groups, catalog),
            min_size=min_events,
            max_size=max_events,
            unique_by=lambda o: o.observation_id,
        )
    )
    repeats = draw(st.lists(st.sampled_from(events), max_size=10)) if events else []
    return list(draw(st.permutations(events + repeats)))


# --- Raw rows as sources send them, for the ingest ↔ aggregate agreement -------------------------

#: Numbers at and around every bound: the magnitude bound, shares' wholes, float limits.
EXTREMES: tuple[float, ...] = (0, 1, 100, 300, 340, 341, 600, 2**53, 1e15, -1e15, 1.0000001e15)
EXTREMES += (1e16, 1e300, 1e307, -1e307, 1e-300, 5e-324, 10**400, -0.0)
NUMBERS = st.none() | st.integers(-(10**6), 10**6) | st.floats() | st.sampled_from(EXTREMES)
_PERIOD_OF: dict[str, str] = {
    "year": "2024",
    "tertial": "2024-T1",
    "quarter": "2024-Q2",
    "month": "2024-05",
}
_PERIOD_OF["term"] = "2024-VT"


@st.composite
def raw_rows(draw: st.DrawFn, catalog: Catalog, indicators: tuple[str, ...]) -> dict[str, object]:
    """A JSON row for one of `indicators`: placed right, with numbers from tame to absurd."""
    ind = catalog.indicator[draw(st.sampled_from(indicators))]
    areas = sorted(a.id for a in catalog.omraden if a.level in ind.area_levels)
    row: dict[str, object] = {
        "indicator": ind.id,
        "area": draw(st.sampled_from(areas)),
        "period": _PERIOD_OF[ind.period_type.value],
        "gender": draw(st.sampled_from(ind.genders)).value,
    }
    if ind.kind is Kind.RATIO:
        den = draw(st.floats(5e-324, 1e15) | st.integers(1, 10**15) | NUMBERS)
        whole = float(den) if _tame(den) and 0 < float(den) <= 1e15 else 1e6
        num = draw(st.floats(0, whole) | NUMBERS)
        row |= {"numerator": num, "denominator": den}
        how = draw(st.sampled_from(("computed", "matching", "any")))
        if how == "matching" and _tame(num) and _tame(den) and float(den) > 0:
            row["value"] = ind.ratio_scale * float(num) / float(den)
        elif how != "computed" or ind.unit not in RATIO_SCALE:
            row["value"] = draw(NUMBERS)
    else:
        row["value"] = draw(st.floats(0, 400) | NUMBERS)
    if draw(st.integers(0, 7)) == 0:
        row["retract"] = True
    if draw(st.booleans()):
        row["comment"] = draw(st.text(max_size=6))
    return {k: v for k, v in row.items() if v is not None}


def _tame(number: object) -> TypeGuard[float]:
    """A number that converts to a float without overflow."""
    return isinstance(number, int | float) and abs(number) < 1e300
