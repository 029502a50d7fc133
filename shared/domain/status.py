"""Progress status of an indicator series and of an etappmål (CONTRACT "Status of an indicator").

Pure: no I/O. `assess` never raises on odd numbers; it answers `saknar_data` with a `reason`.
The method and every edge-case decision are described in docs/status.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any, cast

from shared.domain.catalog import Baseline, Direction, Target
from shared.domain.documents import InputsDocument
from shared.domain.periods import Period, PeriodError, parse_period
from shared.domain.progress import (
    DEFAULT_THRESHOLDS,
    RANKED,
    Reason,
    StatusCode,
    Thresholds,
    Trend,
    cagr,
    classify_ratio,
    classify_trend,
    judge,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "RANKED",
    "Point",
    "Reason",
    "StatusCode",
    "StatusResult",
    "Thresholds",
    "Trend",
    "assess",
    "cagr",
    "classify_ratio",
    "classify_trend",
    "combine",
]


@dataclass(frozen=True)
class Point:
    """One value of a series at a period."""

    period: str
    value: float
    preliminary: bool = False  # the value is not yet published (preliminary contribution)


@dataclass(frozen=True)
class StatusResult:
    """A status with every input a reader needs to check it."""

    status: StatusCode
    trend: Trend | None = None
    reason: Reason | None = None
    x0: float | None = None
    t0: float | None = None
    xt: float | None = None
    t: float | None = None
    x_target: float | None = None
    t_target: float | None = None
    cagr_actual: float | None = None
    cagr_required: float | None = None
    ratio: float | None = None
    baseline_period: str | None = None
    latest_period: str | None = None

    def as_dict(self) -> InputsDocument:
        """JSON-native form (enums as their string values)."""
        fields = {k: (v.value if isinstance(v, StrEnum) else v) for k, v in asdict(self).items()}
        return cast(InputsDocument, fields)


def _series(points: Sequence[Point]) -> dict[Period, float] | Reason:
    """Points by period (a later point for the same period wins), or why they are unusable."""
    series: dict[Period, float] = {}
    for point in points:
        try:
            period = parse_period(point.period)
        except PeriodError:
            return Reason.BAD_PERIOD
        try:
            value = float(point.value)
        except (TypeError, ValueError):
            return Reason.INVALID_VALUE
        if not math.isfinite(value):
            return Reason.INVALID_VALUE
        series[period] = value
    return series


def assess(
    points: Sequence[Point],
    direction: Direction,
    baseline: Baseline | None,
    target: Target | None,
    *,
    stale: bool = False,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> StatusResult:
    """Judge a series against its baseline and target (UN SDG progress assessment)."""
    result = _assess(points, direction, baseline, target, thresholds)
    if stale and result.status is not StatusCode.SAKNAR_DATA:
        return replace(result, status=StatusCode.SAKNAR_DATA, reason=Reason.STALE)
    return result


def _assess(
    points: Sequence[Point],
    direction: Direction,
    baseline: Baseline | None,
    target: Target | None,
    th: Thresholds,
) -> StatusResult:
    series = _series(points)
    if isinstance(series, Reason):
        return StatusResult(StatusCode.SAKNAR_DATA, reason=series)
    if not series:
        return StatusResult(StatusCode.SAKNAR_DATA, reason=Reason.NO_DATA)
    latest = max(series)
    xt, t = series[latest], latest.decimal_start
    if len(series) < 2:
        return StatusResult(
            StatusCode.SAKNAR_DATA,
            reason=Reason.FEWER_THAN_TWO_PERIODS,
            xt=xt,
            t=t,
            latest_period=latest.text,
        )
    if baseline is None:
        start = min(series)
        x0 = series[start]
    else:
        try:
            start = parse_period(baseline.period)
        except PeriodError:
            return StatusResult(StatusCode.SAKNAR_DATA, reason=Reason.BAD_PERIOD)
        x0 = float(baseline.value)
    t0 = start.decimal_start
    x_target = None if target is None else float(target.value)
    t_target = None if target is None else float(target.year)
    numbers = {"x0": x0, "t0": t0, "xt": xt, "t": t, "x_target": x_target, "t_target": t_target}
    verdict = judge(direction, th, x0=x0, t0=t0, xt=xt, t=t, x_target=x_target, t_target=t_target)
    # Non-finite inputs (already judged invalid) are reported as null to keep answers JSON-native.
    shown = {k: v if v is None or math.isfinite(v) else None for k, v in numbers.items()}
    fields: dict[str, Any] = verdict | shown
    return StatusResult(**fields, baseline_period=start.text, latest_period=latest.text)


def combine(statuses: Sequence[StatusCode]) -> tuple[StatusCode, dict[str, int]]:
    """An etappmål's status: the least favourable ranked status, plus counts per status."""
    counts = {code.value: 0 for code in StatusCode}
    for status in statuses:
        counts[StatusCode(status).value] += 1
    ranked = [code for code in RANKED if counts[code.value]]
    if ranked:
        return ranked[0], counts
    # Nothing at all to combine is missing data, not a missing target.
    if counts[StatusCode.SAKNAR_DATA.value] or not statuses:
        return StatusCode.SAKNAR_DATA, counts
    return StatusCode.SAKNAR_MAL, counts
