"""Progress status of an indicator series and of an etappmål (CONTRACT "Status of an indicator").

Pure: no I/O. `assess` never raises on odd numbers; it answers `saknar_data` with a `reason`.
The method and every edge-case decision are described in docs/status.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
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
    "X0Source",
    "assess",
    "cagr",
    "classify_ratio",
    "classify_trend",
    "combine",
]


class X0Source(StrEnum):
    """Where x₀ comes from: the catalog's baseline, or the series' first period with data."""

    BASELINE = "baseline"
    FIRST_PERIOD = "first_period"


@dataclass(frozen=True)
class Point:
    """One value of a series at a period; a computed value carries its coverage."""

    period: str
    value: float
    computed: bool = False
    coverage: float | None = None
    preliminary: bool = False  # the value is not yet published (preliminary contribution)

    @classmethod
    def of(
        cls,
        period: str,
        value: float,
        origin: str | None,
        coverage: float | None,
        preliminary: bool = False,
    ) -> Point:
        """A point of a read-model row: its origin (`reported`/`computed`), coverage, publication."""
        return cls(period, value, origin == "computed", coverage, bool(preliminary))

    def too_thin(self, min_coverage: float | None) -> bool:
        """A computed value whose coverage is below `min_coverage`: shown, never judged."""
        return (
            self.computed
            and min_coverage is not None
            and self.coverage is not None
            and self.coverage < min_coverage
        )


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
    x0_source: X0Source | None = None
    coverage: float | None = None

    def as_dict(self) -> InputsDocument:
        """JSON-native form (enums as their string values)."""
        values = {k: getattr(self, k) for k in _RESULT_FIELDS}  # every field is a scalar
        return cast(InputsDocument, {k: _plain(v) for k, v in values.items()})


_RESULT_FIELDS = tuple(f.name for f in fields(StatusResult))


def _plain(value: object) -> object:
    """An enum as its string value, anything else as it is."""
    return value.value if isinstance(value, StrEnum) else value


def _series(points: Sequence[Point]) -> dict[Period, Point] | Reason:
    """Points by period (a later point for the same period wins), or why they are unusable."""
    series: dict[Period, Point] = {}
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
        series[period] = point if type(point.value) is float else replace(point, value=value)
    return series


def assess(
    points: Sequence[Point],
    direction: Direction,
    baseline: Baseline | None,
    target: Target | None,
    *,
    stale: bool = False,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    min_coverage: float | None = None,
) -> StatusResult:
    """Judge a series against its baseline and target (UN SDG progress assessment)."""
    result = _assess(points, direction, baseline, target, thresholds, min_coverage)
    if stale and result.status is not StatusCode.SAKNAR_DATA:
        return replace(result, status=StatusCode.SAKNAR_DATA, reason=Reason.STALE)
    return result


def _assess(
    points: Sequence[Point],
    direction: Direction,
    baseline: Baseline | None,
    target: Target | None,
    th: Thresholds,
    min_coverage: float | None,
) -> StatusResult:
    series = _series(points)
    if isinstance(series, Reason):
        return StatusResult(StatusCode.SAKNAR_DATA, reason=series)
    if not series:
        return StatusResult(StatusCode.SAKNAR_DATA, reason=Reason.NO_DATA)
    latest = max(series)
    last = series[latest]
    seen: dict[str, Any] = {
        "xt": last.value,
        "t": latest.decimal_start,
        "latest_period": latest.text,
        "coverage": last.coverage if last.computed else None,
    }
    if last.too_thin(min_coverage):
        return StatusResult(StatusCode.SAKNAR_DATA, reason=Reason.LOW_COVERAGE, **seen)
    judged = {p: point.value for p, point in series.items() if not point.too_thin(min_coverage)}
    if baseline is None:
        # Without a baseline x₀ is the first judged period, so two periods are needed.
        if len(judged) < 2:
            return StatusResult(
                StatusCode.SAKNAR_DATA, reason=Reason.FEWER_THAN_TWO_PERIODS, **seen
            )
        start, source = min(judged), X0Source.FIRST_PERIOD
        x0 = judged[start]
    else:
        try:
            start = parse_period(baseline.period)
        except PeriodError:
            return StatusResult(StatusCode.SAKNAR_DATA, reason=Reason.BAD_PERIOD)
        x0, source = float(baseline.value), X0Source.BASELINE
    t0, xt, t = start.decimal_start, seen["xt"], seen["t"]
    x_target = None if target is None else float(target.value)
    t_target = None if target is None else float(target.year)
    numbers = {"x0": x0, "t0": t0, "xt": xt, "t": t, "x_target": x_target, "t_target": t_target}
    verdict = judge(direction, th, x0=x0, t0=t0, xt=xt, t=t, x_target=x_target, t_target=t_target)
    # Non-finite inputs (already judged invalid) are reported as null to keep answers JSON-native.
    shown = {k: v if v is None or math.isfinite(v) else None for k, v in numbers.items()}
    fields: dict[str, Any] = seen | verdict | shown
    return StatusResult(**fields, baseline_period=start.text, x0_source=source)


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
