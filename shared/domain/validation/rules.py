"""The row rules: one observation row judged against the catalog and the sending source's scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.catalog import Indikator
from shared.domain.observation import series_key
from shared.domain.periods import PeriodError, parse_period
from shared.domain.validation import cells
from shared.domain.validation.codes import ErrorCode, Errors, RowError, Unreadable
from shared.domain.validation.event import (
    area_problem,
    gender_problem,
    period_type_problem,
    validity_problem,
)
from shared.domain.validation.fast import accept_fast
from shared.domain.validation.plausibility import judge_numbers, needs_parts
from shared.domain.validation.scope import FIELDS, GENDERS, RESERVED, STATUSES, Scope, ValidRow
from shared.domain.validation.text import comment_too_long, control_character


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
        elif isinstance(cell := raw[name], str) and (problem := control_character(name, cell)):
            errors.add(*problem)
    ind = _indicator(raw, scope, errors)
    area = _area(raw, scope, ind, errors)
    period = _period(raw, scope, ind, errors)
    if area is not None and period is not None:
        problem = validity_problem(scope.catalog, area, period)
        if problem is not None:
            errors.add(*problem)
    gender = cells.choice(raw, "gender", "T", GENDERS, ErrorCode.BAD_GENDER, errors)
    if ind is not None and gender is not None and (problem := gender_problem(ind, gender)):
        errors.add(*problem)
    status = cells.choice(raw, "status", "final", STATUSES, ErrorCode.BAD_STATUS, errors)
    retract = cells.boolean(raw, "retract", errors, text)
    numbers = {
        "value": cells.number(raw, "value", errors, text),
        "numerator": cells.number(raw, "numerator", errors, text),
        "denominator": cells.number(raw, "denominator", errors, text),
    }
    if ind is not None and retract is not None:
        required = area is None or needs_parts(scope.catalog.root, area)
        value, problems = judge_numbers(
            ind,
            numbers["value"],
            numbers["numerator"],
            numbers["denominator"],
            retract,
            parts_required=required,
        )
        numbers["value"] = value
        # a number that could not be read has its error already: not also `missing_*`
        unread = {e.field for e in errors.items} if errors.items else ()
        for problem in problems:
            if problem.field not in unread:
                errors.add(*problem)
    updated_at = cells.timestamp(raw, "updated_at", scope.now, errors, scope.memo)
    comment = raw.get("comment")
    if comment is not None and not isinstance(comment, str):
        errors.add("comment", ErrorCode.BAD_TYPE, "comment must be a string")
    elif comment is not None and (problem := comment_too_long(comment)):
        errors.add(*problem)
    observation_id = cells.uuid(raw, "observation_id", errors)
    if errors.items or ind is None or area is None or period is None or gender is None:
        return errors.items
    fields: dict[str, Any] = {
        "indicator": ind.id,
        "area": area,
        "period": period,
        "gender": gender,
        "status": status,
        "retract": retract,
    }
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
        errors.add(
            "indicator",
            ErrorCode.FORBIDDEN_INDICATOR,
            f"source {scope.source!r} may not report indicator {ind_id!r}",
        )
        return None
    return ind


def _area(
    raw: Mapping[Any, Any], scope: Scope, ind: Indikator | None, errors: Errors
) -> str | None:
    area_id = cells.required_str(raw, "area", errors)
    if area_id is None:
        return None
    problem = area_problem(scope.catalog, ind, area_id)
    if problem is not None:
        errors.add(*problem)
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
    problem = period_type_problem(ind, period) if ind is not None else None
    if problem is not None:
        errors.add(*problem)
    elif period.start > scope.today:
        errors.add(
            "period", ErrorCode.FUTURE_PERIOD, f"period {text!r} starts {period.start}, after today"
        )
    return text
