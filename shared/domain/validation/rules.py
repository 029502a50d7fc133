"""The row rules: one observation row judged against the catalog and the sending source's scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.catalog import Indikator, Kind
from shared.domain.observation import MAX_COMMENT, series_key
from shared.domain.periods import PeriodError, parse_period
from shared.domain.validation import cells
from shared.domain.validation.codes import ErrorCode, Errors, RowError, Unreadable
from shared.domain.validation.fast import accept_fast
from shared.domain.validation.scope import (
    FIELDS,
    GENDERS,
    RATIO_SCALE,
    RATIO_TOLERANCE,
    RESERVED,
    STATUSES,
    Scope,
    ValidRow,
)


def validate_row(
    raw: object, scope: Scope, row: int, *, text: bool = False, fast: bool = True
) -> ValidRow | list[RowError]:
    """Check one row (numbered `row`); `text=True` when numbers and booleans arrive as text (CSV).

    `fast=False` skips the fast path for valid JSON rows (tests compare the two).
    """
    if fast and not text:
        accepted = accept_fast(raw, scope, row)
        if accepted is not None:
            return accepted
    if isinstance(raw, Unreadable):
        return [RowError(row, raw.field, raw.code, raw.message)]
    if not isinstance(raw, Mapping):
        return [RowError(row, None, ErrorCode.NOT_AN_OBJECT, "a row must be an object of fields")]
    errors = Errors(row)
    for name in raw:
        if name in RESERVED:
            errors.add(
                name,
                ErrorCode.RESERVED_FIELD,
                f"{name!r} is set by the ingest service, not by a source",
            )
        elif name not in FIELDS:
            errors.add(str(name), ErrorCode.UNKNOWN_FIELD, f"unknown field {name!r}")
    ind = _indicator(raw, scope, errors)
    area = _area(raw, scope, ind, errors)
    period = _period(raw, scope, ind, errors)
    gender = cells.choice(raw, "gender", "T", GENDERS, ErrorCode.BAD_GENDER, errors)
    if ind is not None and gender is not None and gender not in ind.genders:
        errors.add("gender", ErrorCode.GENDER_NOT_ALLOWED,
                   f"indicator {ind.id!r} is reported for {'/'.join(ind.genders)}, not {gender!r}")  # fmt: skip
    status = cells.choice(raw, "status", "final", STATUSES, ErrorCode.BAD_STATUS, errors)
    retract = cells.boolean(raw, "retract", errors, text)
    numbers = {"value": cells.number(raw, "value", errors, text),
               "numerator": cells.number(raw, "numerator", errors, text),
               "denominator": cells.number(raw, "denominator", errors, text)}  # fmt: skip
    if ind is not None and retract is not None:
        _values(ind, numbers, retract, errors)
    updated_at = cells.timestamp(raw, "updated_at", scope.now, errors, scope.memo)
    comment = raw.get("comment")
    if comment is not None and not isinstance(comment, str):
        errors.add("comment", ErrorCode.BAD_TYPE, "comment must be a string")
    elif comment is not None and len(comment) > MAX_COMMENT:
        errors.add("comment", ErrorCode.COMMENT_TOO_LONG,
                   f"comment has {len(comment)} characters; at most {MAX_COMMENT} are allowed")  # fmt: skip
    observation_id = cells.uuid(raw, "observation_id", errors)
    if errors.items or ind is None or area is None or period is None or gender is None:
        return errors.items
    fields: dict[str, Any] = {"indicator": ind.id, "area": area, "period": period, "gender": gender,
                              "status": status, "retract": retract}  # fmt: skip
    for name in ("value", "numerator", "denominator"):
        if numbers[name] is not None:
            fields[name] = numbers[name]
    if updated_at is not None:
        fields["updated_at"] = updated_at
    if comment is not None:
        fields["comment"] = comment
    if observation_id is not None:
        fields["observation_id"] = observation_id
    return ValidRow(row, series_key(ind.id, area, period, gender), fields)


def _indicator(raw: Mapping[Any, Any], scope: Scope, errors: Errors) -> Indikator | None:
    ind_id = cells.required_str(raw, "indicator", errors)
    if ind_id is None:
        return None
    ind = scope.catalog.indicator.get(ind_id)
    if ind is None:
        errors.add(
            "indicator", ErrorCode.UNKNOWN_INDICATOR, f"no indicator {ind_id!r} in the catalog"
        )
    elif ind_id not in scope.allowed:
        errors.add("indicator", ErrorCode.FORBIDDEN_INDICATOR,
                   f"source {scope.source!r} may not report indicator {ind_id!r}")  # fmt: skip
        return None
    return ind


def _area(
    raw: Mapping[Any, Any], scope: Scope, ind: Indikator | None, errors: Errors
) -> str | None:
    area_id = cells.required_str(raw, "area", errors)
    if area_id is None:
        return None
    area = scope.catalog.area.get(area_id)
    if area is None:
        errors.add("area", ErrorCode.UNKNOWN_AREA, f"no area {area_id!r} in the catalog")
    elif ind is not None and area.level not in ind.area_levels:
        levels = ", ".join(level.value for level in ind.area_levels)
        errors.add("area", ErrorCode.AREA_LEVEL_NOT_ALLOWED,
                   f"{area_id!r} is a {area.level.value}; {ind.id!r} is reported per {levels}")  # fmt: skip
    return area_id


def _period(
    raw: Mapping[Any, Any], scope: Scope, ind: Indikator | None, errors: Errors
) -> str | None:
    text = cells.required_str(raw, "period", errors)
    if text is None:
        return None
    period = scope.memo.get(text)
    if period is None:
        try:
            period = scope.memo[text] = parse_period(text)
        except PeriodError as exc:
            errors.add("period", ErrorCode.BAD_PERIOD, str(exc))
            return None
    if ind is not None and period.type is not ind.period_type:
        errors.add("period", ErrorCode.PERIOD_TYPE_MISMATCH,
                   f"{text!r} is a {period.type.value} period; {ind.id!r} is reported per {ind.period_type.value}")  # fmt: skip
    elif period.start > scope.today:
        errors.add(
            "period", ErrorCode.FUTURE_PERIOD, f"period {text!r} starts {period.start}, after today"
        )
    return text


def _values(
    ind: Indikator, numbers: dict[str, float | None], retract: bool, errors: Errors
) -> None:
    """Value rules: value present, ratio parts present, sane and consistent, counts non-negative."""
    value, num, den = numbers["value"], numbers["numerator"], numbers["denominator"]
    if ind.kind is not Kind.RATIO:
        for name in ("numerator", "denominator"):
            if numbers[name] is not None:
                errors.add(
                    name,
                    ErrorCode.RATIO_PARTS_NOT_ALLOWED,
                    f"{ind.id!r} is a {ind.kind.value}, not a ratio",
                )
        if value is None and not retract:
            errors.add("value", ErrorCode.MISSING_VALUE, "value is required unless retract is true")
        elif value is not None and ind.kind is Kind.COUNT and value < 0:
            errors.add("value", ErrorCode.NEGATIVE_COUNT, f"a count cannot be negative ({value:g})")
        return
    if num is not None and num < 0:
        errors.add(
            "numerator", ErrorCode.NEGATIVE_NUMERATOR, f"numerator cannot be negative ({num:g})"
        )
    if den is not None and den <= 0:
        errors.add(
            "denominator", ErrorCode.BAD_DENOMINATOR, f"denominator must be positive ({den:g})"
        )
    if retract:
        return
    if num is None:
        errors.add(
            "numerator", ErrorCode.MISSING_NUMERATOR, f"numerator is required for ratio {ind.id!r}"
        )
    if den is None:
        errors.add(
            "denominator",
            ErrorCode.MISSING_DENOMINATOR,
            f"denominator is required for ratio {ind.id!r}",
        )
    scale = RATIO_SCALE.get(ind.unit)
    if scale is None:
        if value is None:
            errors.add("value", ErrorCode.MISSING_VALUE, f"value is required (unit {ind.unit!r})")
        return
    if num is None or den is None or num < 0 or den <= 0:
        return
    expected = scale * num / den
    if value is None:
        numbers["value"] = expected
    elif abs(value - expected) > RATIO_TOLERANCE:
        errors.add("value", ErrorCode.INCONSISTENT_VALUE,
                   f"value {value:g} differs from {scale:g}·numerator/denominator = {expected:.4f}"
                   f" by more than {RATIO_TOLERANCE}")  # fmt: skip
