"""The UN SDG progress assessment (CAGR ratio method) on plain numbers.

Pure: no I/O. `shared.domain.status.assess` feeds it a parsed series; docs/status.md explains
the method and each edge-case decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.domain.catalog import Direction


class StatusCode(StrEnum):
    """The status of an indicator or etappmål."""

    UPPNATT = "uppnatt"
    I_FAS = "i_fas"
    VISS_FRAMGANG = "viss_framgang"
    INGEN_FRAMGANG = "ingen_framgang"
    FORSAMRING = "forsamring"
    SAKNAR_MAL = "saknar_mal"
    SAKNAR_DATA = "saknar_data"


class Trend(StrEnum):
    """The direction of change, judged in the indicator's desired direction."""

    FORBATTRING = "forbattring"
    OFORANDRAD = "oforandrad"
    FORSAMRING = "forsamring"


class Reason(StrEnum):
    """Why a status is `saknar_data`/`saknar_mal`, or a note on an unusual judgement."""

    NO_DATA = "no_data"
    FEWER_THAN_TWO_PERIODS = "fewer_than_two_periods"
    NO_DATA_AFTER_BASELINE = "no_data_after_baseline"
    STALE = "stale"
    LOW_COVERAGE = "low_coverage"
    NO_TARGET = "no_target"
    BAD_PERIOD = "bad_period"
    INVALID_VALUE = "invalid_value"
    NEGATIVE_VALUE = "negative_value"
    OUT_OF_RANGE = "out_of_range"
    TARGET_YEAR_NOT_AFTER_BASELINE = "target_year_not_after_baseline"
    TARGET_NOT_BEYOND_BASELINE = "target_not_beyond_baseline"


@dataclass(frozen=True)
class Thresholds:
    """Cut-offs of the method; the defaults are the contract's."""

    i_fas: float = 0.95
    viss_framgang: float = 0.5
    ingen_framgang: float = -0.1
    trend_flat: float = 0.005
    zero_replacement: float = 0.001


DEFAULT_THRESHOLDS = Thresholds()


RANKED = (
    StatusCode.FORSAMRING,
    StatusCode.INGEN_FRAMGANG,
    StatusCode.VISS_FRAMGANG,
    StatusCode.I_FAS,
    StatusCode.UPPNATT,
)


def cagr(x_from: float, x_to: float, years: float) -> float | None:
    """Compound annual growth rate from x_from to x_to over `years`; None when undefined."""
    if years <= 0 or x_from <= 0 or x_to < 0:
        return None
    if x_to == 0:
        return -1.0
    try:
        # expm1/log rather than pow − 1, so tiny changes keep their sign instead of rounding to 0;
        # a difference of logs, as x_to / x_from over- or underflows for far-apart values.
        value = math.expm1((math.log(x_to) - math.log(x_from)) / years)
    except (OverflowError, ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


def classify_ratio(ratio: float, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> StatusCode:
    """Status of a ratio R = CAGR_actual / CAGR_required for a target not yet reached."""
    if ratio >= thresholds.i_fas:
        return StatusCode.I_FAS
    if ratio >= thresholds.viss_framgang:
        return StatusCode.VISS_FRAMGANG
    if ratio >= thresholds.ingen_framgang:
        return StatusCode.INGEN_FRAMGANG
    return StatusCode.FORSAMRING


def classify_trend(
    cagr_actual: float, direction: Direction, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> Trend:
    """Trend of a growth rate judged in the desired direction."""
    gain = direction.sign * cagr_actual
    if abs(gain) < thresholds.trend_flat:
        return Trend.OFORANDRAD
    return Trend.FORBATTRING if gain > 0 else Trend.FORSAMRING


def judge(
    direction: Direction,
    th: Thresholds,
    *,
    x0: float,
    t0: float,
    xt: float,
    t: float,
    x_target: float | None,
    t_target: float | None,
) -> dict[str, Any]:
    """Status, reason, trend, CAGR_actual, CAGR_required and R for parsed inputs."""
    out: dict[str, Any] = {"status": StatusCode.SAKNAR_DATA}
    goal = (x_target, t_target) if x_target is not None and t_target is not None else None
    if not all(math.isfinite(v) for v in (x0, xt, *(goal or ()))):
        return out | {"reason": Reason.INVALID_VALUE}
    if t <= t0:
        return out | {"reason": Reason.NO_DATA_AFTER_BASELINE}
    if min(x0, xt, x0 if goal is None else goal[0]) < 0:
        return out | {"reason": Reason.NEGATIVE_VALUE}

    def nz(x: float) -> float:
        return th.zero_replacement if x == 0 else x

    actual = cagr(nz(x0), nz(xt), t - t0)
    if actual is None:
        return out | {"reason": Reason.OUT_OF_RANGE}
    trend = classify_trend(actual, direction, th)
    out |= {"trend": trend, "cagr_actual": actual}
    if goal is None:
        return out | {"status": StatusCode.SAKNAR_MAL, "reason": Reason.NO_TARGET}
    x_star, t_star = goal
    reached = direction.sign * (xt - x_star) >= 0
    if t_star <= t0:
        status = StatusCode.UPPNATT if reached else StatusCode.SAKNAR_MAL
        return out | {"status": status, "reason": Reason.TARGET_YEAR_NOT_AFTER_BASELINE}
    required = cagr(nz(x0), nz(x_star), t_star - t0)
    if required is None:
        return out | {"reason": Reason.OUT_OF_RANGE}
    out["cagr_required"] = required
    if direction.sign * required <= 0:
        # A target not beyond the baseline asks to hold the line, where R means nothing: falling
        # behind it is a setback (or no progress, when the change is within the flat band). The
        # data fell even when the trend says forbattring: only the zero replacement makes a fall
        # to 0 look like a rise (0.0002 → 0 is computed as 0.0002 → 0.001).
        lost = StatusCode.INGEN_FRAMGANG if trend is Trend.OFORANDRAD else StatusCode.FORSAMRING
        status = StatusCode.UPPNATT if reached else lost
        return out | {"status": status, "reason": Reason.TARGET_NOT_BEYOND_BASELINE}
    ratio = actual / required
    if not math.isfinite(ratio):
        return out | {"reason": Reason.OUT_OF_RANGE}
    out["ratio"] = ratio
    if reached:
        return out | {"status": StatusCode.UPPNATT}
    return out | {"status": classify_ratio(ratio, th)}
