"""Rules a catalog file must keep beyond what the models check: they make the file say one thing.

Pure: no I/O. Run on a catalog whose references already resolve (`cross_check` passed); every
problem is a (path, message) pair whose path the loader maps back to a line in the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

from shared.catalog.connectors import connector_problems
from shared.catalog.validity import validity
from shared.domain.catalog import (
    AreaLevel,
    Baseline,
    Catalog,
    Gender,
    Indikator,
    Kind,
    NamndType,
    PeriodType,
    Responsibility,
    Role,
    Target,
)
from shared.domain.mappings.pxweb import pxweb_problems
from shared.domain.periods import PeriodError, parse_period
from shared.domain.validation.plausibility import MAX_MAGNITUDE, too_large

Problem = tuple[str, str]
_CHILD_LEVEL = {
    AreaLevel.STAD: AreaLevel.STADSDELSOMRADE,
    AreaLevel.STADSDELSOMRADE: AreaLevel.STADSDEL,
}


def consistency(catalog: Catalog) -> Iterator[Problem]:
    """Yield (path, message) for every rule of the catalog file that is broken."""
    yield from _sources(catalog)
    yield from _indicators(catalog)
    yield from _goals(catalog)
    yield from connector_problems(catalog)
    yield from _areas(catalog)
    yield from validity(catalog)
    yield from _committees(catalog)
    yield from pxweb_problems(catalog)


def _sources(catalog: Catalog) -> Iterator[Problem]:
    for n, ind in enumerate(catalog.indikatorer):
        if not ind.sources:
            yield f"indikatorer[{n}].sources", "no källa is allowed to report this indicator"
        for k, src in enumerate(ind.sources):
            if ind.id not in catalog.source[src].indicators:
                yield f"indikatorer[{n}].sources[{k}]", f"källa {src!r} does not list {ind.id!r}"
    owners: dict[str, str] = {}
    for n, kalla in enumerate(catalog.kallor):
        owner = owners.setdefault(kalla.principal, kalla.id)
        if owner != kalla.id:
            yield (
                f"kallor[{n}].kafka_principal",
                f"{kalla.principal!r} is already the principal of {owner!r}:"
                " each source needs its own, or one could write the other's topic",
            )
        for k, ind_id in enumerate(kalla.indicators):
            if kalla.id not in catalog.indicator[ind_id].sources:
                yield (
                    f"kallor[{n}].indicators[{k}]",
                    f"{ind_id!r} does not name {kalla.id!r} in its sources",
                )


def _indicators(catalog: Catalog) -> Iterator[Problem]:
    for n, ind in enumerate(catalog.indikatorer):
        at = f"indikatorer[{n}]"
        if Gender.T not in ind.genders:
            yield f"{at}.genders", "must include T (the total every status is computed for)"
        for name, values in (
            ("area_levels", ind.area_levels),
            ("genders", ind.genders),
            ("sources", ind.sources),
        ):
            yield from _repeats(f"{at}.{name}", values)
        if ind.cadence.months == 0 and ind.cadence.days == 0:
            yield f"{at}.cadence", "must be longer than zero"
        yield from _bounds(at, ind)
        yield from _baseline_target(at, ind.baseline, ind.target, ind.period_type)
        yield from _plausible(at, ind, ind.baseline, ind.target, ind.annual_targets)
        yield from _responsible(f"{at}.responsible", ind.responsible)


def _goals(catalog: Catalog) -> Iterator[Problem]:
    for n, goal in enumerate(catalog.etappmal):
        at = f"etappmal[{n}]"
        headline = catalog.indicator[goal.headline]
        if headline.direction is not goal.direction:
            yield (
                f"{at}.direction",
                f"differs from its headline indicator {headline.id!r} ({headline.direction.value})",
            )
        if AreaLevel.STAD not in headline.area_levels:
            yield (
                f"{at}.indicators[0]",
                f"headline indicator {headline.id!r} is not reported at level stad",
            )
        yield from _repeats(f"{at}.indicators", goal.indicators)
        yield from _baseline_target(at, goal.baseline, goal.target, headline.period_type)
        yield from _plausible(at, headline, goal.baseline, goal.target, {})
        yield from _responsible(f"{at}.responsible", goal.responsible)


def _baseline_target(
    at: str, baseline: Baseline | None, target: Target | None, period_type: PeriodType
) -> Iterator[Problem]:
    if baseline is None:
        return
    try:
        start = parse_period(baseline.period, period_type)
    except PeriodError as exc:
        yield f"{at}.baseline.period", str(exc)
        return
    if target is not None and target.year <= start.year:
        yield (
            f"{at}.target.year",
            f"{target.year} is not after the baseline period {baseline.period}",
        )


def _bounds(at: str, ind: Indikator) -> Iterator[Problem]:
    """`min` and `max` say one range, of a size every sum can hold, that the kind allows."""
    for name in ("min", "max"):
        bound = getattr(ind, name)
        if bound is not None and not abs(bound) <= MAX_MAGNITUDE:
            yield f"{at}.{name}", too_large(f"{name} {bound:g}")
    if ind.min is not None and ind.max is not None and ind.min > ind.max:
        yield f"{at}.min", f"min {ind.min:g} is greater than max {ind.max:g}"
    if ind.is_share:
        whole = f"a share (unit {ind.unit!r}) lies between 0 and {ind.ratio_scale:g}"
        if ind.min is not None and not 0 <= ind.min <= ind.ratio_scale:
            yield f"{at}.min", f"min {ind.min:g} is not possible: {whole}"
        if ind.max is not None and not 0 <= ind.max <= ind.ratio_scale:
            yield f"{at}.max", f"max {ind.max:g} is not possible: {whole}"
    elif ind.kind is Kind.COUNT and ind.min is not None and ind.min < 0:
        yield f"{at}.min", f"min {ind.min:g} is not possible: a count is never negative"


def _plausible(
    at: str,
    ind: Indikator,
    baseline: Baseline | None,
    target: Target | None,
    annual: dict[int, float],
) -> Iterator[Problem]:
    """Baseline, target and årsmål are values the indicator can take."""
    low, high = ind.bounds
    values = [
        ("baseline.value", baseline.value if baseline else None),
        ("target.value", target.value if target else None),
        *((f"annual_targets.{year}", value) for year, value in annual.items()),
    ]
    for name, value in values:
        if value is None:
            continue
        if low is not None and value < low:
            yield f"{at}.{name}", f"{value:g} is below {ind.id!r}'s minimum {low:g}"
        elif high is not None and value > high:
            yield f"{at}.{name}", f"{value:g} is above {ind.id!r}'s maximum {high:g}"


def _responsible(at: str, responsible: Sequence[Responsibility]) -> Iterator[Problem]:
    leads = [k for k, r in enumerate(responsible) if r.role is Role.HUVUDANSVARIG]
    for k in leads[1:]:
        yield f"{at}[{k}].role", "only one nämnd can be huvudansvarig"
    seen: set[str] = set()
    for k, r in enumerate(responsible):
        if r.namnd in seen:
            yield f"{at}[{k}].namnd", f"{r.namnd!r} is listed twice"
        seen.add(r.namnd)


def _areas(catalog: Catalog) -> Iterator[Problem]:
    for n, area in enumerate(catalog.omraden):
        if area.parent is None:
            if area.level is not AreaLevel.STAD:
                yield f"omraden[{n}].level", "the area without a parent must have level stad"
            continue
        for k, link in enumerate(area.links):
            where = f"omraden[{n}].parents[{k}]" if area.parents else f"omraden[{n}].level"
            parent = catalog.area[link.id]
            expected = _CHILD_LEVEL.get(parent.level)
            if area.level is not expected:
                wanted = f"level {expected.value}" if expected else "no children"
                yield where, f"parent {parent.id!r} is {parent.level.value}, so {wanted}"
            if area.level is AreaLevel.STADSDEL:
                for flag in ("ytterstad", "fokus"):
                    if getattr(area, flag) != getattr(parent, flag):
                        yield (
                            f"omraden[{n}].{flag}",
                            f"a stadsdel has the {flag} flag of {parent.id!r}",
                        )


def _committees(catalog: Catalog) -> Iterator[Problem]:
    owners: Counter[str] = Counter()
    for n, nd in enumerate(catalog.namnder):
        if nd.type is not NamndType.STADSDELSNAMND:
            continue
        if nd.area is None or catalog.area[nd.area].level is not AreaLevel.STADSDELSOMRADE:
            yield f"namnder[{n}].area", "a stadsdelsnämnd owns one stadsdelsområde"
        elif owners[nd.area]:
            yield f"namnder[{n}].area", f"{nd.area!r} already has a stadsdelsnämnd"
        if nd.area is not None:
            owners[nd.area] += 1


def _repeats(at: str, values: Sequence[object]) -> Iterator[Problem]:
    seen: set[object] = set()
    for k, value in enumerate(values):
        if value in seen:
            yield f"{at}[{k}]", f"{getattr(value, 'value', value)!r} is listed twice"
        seen.add(value)
