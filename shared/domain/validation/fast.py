"""A fast path for the common case: a JSON row that passes every rule, checked in one function.

It only ever *accepts*: the moment anything is unusual (a missing or extra field, a type, a rule
that fails, a period or timestamp not yet seen in this batch, a retraction, a source-supplied
observation_id) it returns None and `validate_row` runs the full rules, which explain every error.
It reuses what the full rules memoised in the scope, so the first row of a batch with a given
period or timestamp always takes the full path. A property test checks that both paths agree.
"""

from __future__ import annotations

import math
from typing import Any

from shared.domain.catalog import Indikator
from shared.domain.observation import MAX_COMMENT, series_key
from shared.domain.periods import Period
from shared.domain.validation.plausibility import judge_numbers
from shared.domain.validation.scope import FIELDS, STATUSES, Scope, ValidRow
from shared.domain.validation.text import FORBIDDEN

_NUMBER_TYPES = (int, float)


def accept_fast(raw: object, scope: Scope, row: int) -> ValidRow | None:
    """The ValidRow of an unremarkable valid JSON row, else None (the full rules decide)."""
    if type(raw) is not dict or not FIELDS.issuperset(raw) or "observation_id" in raw:
        return None
    ind_id, area_id, text = raw.get("indicator"), raw.get("area"), raw.get("period")
    if type(ind_id) is not str or type(area_id) is not str or type(text) is not str:
        return None
    ind = scope.placed.get((ind_id, area_id, text))
    if ind is None:
        ind = _placed(scope, ind_id, area_id, text)
        if ind is None:
            return None
    gender, status = raw.get("gender", "T"), raw.get("status", "final")
    if (
        type(gender) is not str
        or gender not in ind.genders
        or type(status) is not str
        or status not in STATUSES
    ):
        return None
    if raw.get("retract", False) is not False:
        return None
    numbers = _numbers(raw)
    if numbers is None:
        return None
    value, num, den = numbers
    value, problems = judge_numbers(ind, value, num, den, False)
    if problems:
        return None
    updated_at, comment = raw.get("updated_at"), raw.get("comment")
    if updated_at is not None:
        updated_at = scope.memo.get(("ts", updated_at)) if type(updated_at) is str else None
        if updated_at is None:
            return None
    if comment is not None and (
        type(comment) is not str or len(comment) > MAX_COMMENT or FORBIDDEN.search(comment)
    ):
        return None
    fields: dict[str, Any] = {
        "indicator": ind_id,
        "area": area_id,
        "period": text,
        "gender": gender,
        "status": status,
        "retract": False,
    }
    if value is not None:
        fields["value"] = value
    if num is not None:
        fields["numerator"] = num
    if den is not None:
        fields["denominator"] = den
    if updated_at is not None:
        fields["updated_at"] = updated_at
    if comment is not None:
        fields["comment"] = comment
    return ValidRow(row, series_key(ind_id, area_id, text, gender), fields)


def _placed(scope: Scope, ind_id: str, area_id: str, text: str) -> Indikator | None:
    """The indicator when the source may write it for this area and period, remembered; else None.

    What is judged here depends only on them, the catalog, the source and the day, so the
    batches of a source on one day share what was found (`Scope.placed`).
    """
    ind, area, period = (
        scope.catalog.indicator.get(ind_id),
        scope.catalog.area.get(area_id),
        scope.memo.get(text),
    )
    if (
        ind is None
        or ind_id not in scope.allowed
        or area is None
        or area.level not in ind.area_levels
        or area.valid_from is not None
        or area.valid_to is not None  # the full rules judge an area that is not always valid
        or type(period) is not Period
        or period.type is not ind.period_type
        or period.start > scope.today
    ):
        return None  # not remembered: the full rules may yet parse the period into the memo
    scope.placed[(ind_id, area_id, text)] = ind
    return ind


def _numbers(raw: dict[str, Any]) -> tuple[float | None, float | None, float | None] | None:
    """value, numerator, denominator as finite floats (None when absent); None if any is unusual."""
    out: list[float | None] = []
    for name in ("value", "numerator", "denominator"):
        number = raw.get(name)
        if number is None:
            out.append(None)
            continue
        if type(number) not in _NUMBER_TYPES:
            return None
        try:
            number = float(number)
        except OverflowError:
            return None
        if not math.isfinite(number):
            return None
        out.append(number)
    return out[0], out[1], out[2]
