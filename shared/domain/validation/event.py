"""The rules of a canonical event: what the aggregator checks before it applies an observation.

They are the row rules of ingest that do not depend on who sent the row or when (source scope,
future periods and timestamps are judged once, at ingest; a rebuild must judge the log the same
way every time). Ingest's rules call the same functions, so an event ingest publishes always
passes, and a rogue producer's event is refused for the reasons ingest would have given.
"""

from __future__ import annotations

from shared.domain.areas import last_day
from shared.domain.catalog import Catalog, Indikator
from shared.domain.observation import Observation
from shared.domain.periods import Period, PeriodError, parse_period
from shared.domain.validation.codes import ErrorCode, Problem, Problems
from shared.domain.validation.plausibility import judge_numbers, needs_parts
from shared.domain.validation.text import comment_too_long, control_character


def judge_event(catalog: Catalog, obs: Observation) -> Problems:
    """Every rule a decoded observation breaks; empty when it can be applied."""
    out = Problems()
    for name in ("indicator", "area", "period", "source", "comment"):
        text = getattr(obs, name)
        problem = control_character(name, text) if text is not None else None
        if problem is not None:
            out.append(problem)
    if obs.comment is not None and (problem := comment_too_long(obs.comment)):
        out.append(problem)
    ind = catalog.indicator.get(obs.indicator)
    if ind is None:
        message = f"no indicator {obs.indicator!r} in the catalog"
        out.add("indicator", ErrorCode.UNKNOWN_INDICATOR, message)
        return out
    for problem in (
        area_problem(catalog, ind, obs.area),
        period_problem(ind, obs.period),
        validity_problem(catalog, obs.area, obs.period),
        gender_problem(ind, obs.gender.value),
    ):
        if problem is not None:
            out.append(problem)
    required = needs_parts(catalog.root, obs.area)
    value, numbers = judge_numbers(
        ind, obs.value, obs.numerator, obs.denominator, obs.retract, parts_required=required
    )
    out.extend(numbers)
    if obs.value is None and value is not None:  # ingest publishes the value it computed
        message = "value is required unless retract is true"
        out.add("value", ErrorCode.MISSING_VALUE, message)
    return out


def area_problem(catalog: Catalog, ind: Indikator | None, area_id: str) -> Problem | None:
    """An unknown area, or one at a level the indicator is not reported at."""
    area = catalog.area.get(area_id)
    if area is None:
        return Problem("area", ErrorCode.UNKNOWN_AREA, f"no area {area_id!r} in the catalog")
    if ind is not None and area.level not in ind.area_levels:
        levels = ", ".join(level.value for level in ind.area_levels)
        message = f"{area_id!r} is a {area.level.value}; {ind.id!r} is reported per {levels}"
        return Problem("area", ErrorCode.AREA_LEVEL_NOT_ALLOWED, message)
    return None


def validity_problem(catalog: Catalog, area_id: str, period: str) -> Problem | None:
    """An area that is not valid on the period's last day, so no tree of the period holds it."""
    area = catalog.area.get(area_id)
    if area is None or (area.valid_from is None and area.valid_to is None):
        return None
    try:
        day = last_day(period)
    except PeriodError:
        return None  # period_problem says why
    if area.valid_on(day):
        return None
    message = (
        f"{area_id!r} is valid {area.validity()}, not on {day}, the last day of {period!r}"
        " (a period's values belong to the area tree of its last day)"
    )
    return Problem("area", ErrorCode.AREA_NOT_VALID, message)


def period_problem(ind: Indikator, text: str) -> Problem | None:
    """A text that is not a period, or a period of another type than the indicator's."""
    try:
        period = parse_period(text)
    except PeriodError as exc:
        return Problem("period", ErrorCode.BAD_PERIOD, str(exc))
    return period_type_problem(ind, period)


def period_type_problem(ind: Indikator, period: Period) -> Problem | None:
    """A period of another type than the indicator's."""
    if period.type is ind.period_type:
        return None
    message = (
        f"{period.text!r} is a {period.type.value} period;"
        f" {ind.id!r} is reported per {ind.period_type.value}"
    )
    return Problem("period", ErrorCode.PERIOD_TYPE_MISMATCH, message)


def gender_problem(ind: Indikator, gender: str) -> Problem | None:
    """A gender the indicator is not broken down by."""
    if gender in ind.genders:
        return None
    message = f"indicator {ind.id!r} is reported for {'/'.join(ind.genders)}, not {gender!r}"
    return Problem("gender", ErrorCode.GENDER_NOT_ALLOWED, message)
