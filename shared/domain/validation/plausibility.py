"""Plausibility of an observation's numbers against its indicator: one rule set for every judge.

`validate_row` and its fast path (ingest: HTTP and raw topic) and `RollupEngine.check` (aggregate)
all call `judge_numbers`, so nothing is acknowledged that the aggregator would refuse, and an event
written straight to the canonical topic is refused for the same reasons.

Why `MAX_MAGNITUDE` keeps every rollup finite: a parent's sums (Σnumerator, Σdenominator, Σvalue)
are sums of its children's current contributions, one per area, each at most 1e15 in size; a
series has one winning version, so corrections replace a contribution instead of adding to it, and
the incremental updates only add rounding error of about 1e-16 of the sum each. Over a tree of even
a million areas a sum stays below 1e21, far from the float limit 1.8e308. A ratio's computed value
Σnum/Σden lies between its children's ratios (numerators ≥ 0, denominators > 0), each of which is
held to the bound as well. 1e15 is below 2⁵³, so integer counts sum exactly, and above any number
a city reports (Stockholm's yearly budget is about 6·10¹⁰ kronor).
"""

from __future__ import annotations

from shared.domain.catalog import RATIO_SCALE, Indikator, Kind
from shared.domain.validation.codes import ErrorCode, Problems

#: The greatest magnitude of any number of an observation, given or computed (see above).
MAX_MAGNITUDE = 1e15
#: |value − scale·numerator/denominator| allowed for ratio indicators.
RATIO_TOLERANCE = 0.05


def shown(number: float) -> str:
    """A number as a message shows it: short (`1e+15`, `71.33`) where that is exact, else every
    digit it needs (340.00001, which `%g` would round to 340)."""
    short = f"{number:g}"
    return short if float(short) == number else repr(float(number))


def judge_numbers(
    ind: Indikator,
    value: float | None,
    numerator: float | None,
    denominator: float | None,
    retract: bool,
    *,
    parts_required: bool = True,
) -> tuple[float | None, Problems]:
    """The value (computed from the parts when absent and the unit has a scale) and what is wrong.

    Numbers must be finite already. A retraction's numbers are checked as numbers only (size and
    sign), not against the value rules: they are published as sent and never rolled up.
    `parts_required=False` (the city, see `needs_parts`) accepts a ratio's value without both parts.
    """
    out = Problems()
    # Unrolled, not a loop: this runs for every row of every batch.
    if value is not None and not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
        out.add("value", ErrorCode.NUMBER_TOO_LARGE, too_large(f"value {shown(value)}"))
    if numerator is not None and not -MAX_MAGNITUDE <= numerator <= MAX_MAGNITUDE:
        out.add("numerator", ErrorCode.NUMBER_TOO_LARGE, too_large(f"numerator {shown(numerator)}"))
    if denominator is not None and not -MAX_MAGNITUDE <= denominator <= MAX_MAGNITUDE:
        what = f"denominator {shown(denominator)}"
        out.add("denominator", ErrorCode.NUMBER_TOO_LARGE, too_large(what))
    if ind.kind is Kind.RATIO:
        bare = numerator is None and denominator is None and value is not None
        if parts_required or not bare:
            value = _ratio(ind, value, numerator, denominator, retract, out)
    else:
        _not_ratio(ind, value, numerator, denominator, retract, out)
    if retract or value is None or (out and any(p.field == "value" for p in out)):
        return value, out
    low, high = ind.bounds
    if low is not None and value < low:
        out.add(
            "value", ErrorCode.VALUE_OUT_OF_RANGE, _outside(ind, value, "below the minimum", low)
        )
    elif high is not None and value > high:
        out.add(
            "value", ErrorCode.VALUE_OUT_OF_RANGE, _outside(ind, value, "above the maximum", high)
        )
    return value, out


def needs_parts(root: str, area: str) -> bool:
    """Whether a ratio row for `area` needs numerator and denominator: everywhere but the city.

    A share rolls up as Σnumerator/Σdenominator, so every area that has a parent must send its
    parts; the city's own value (Kolada's, a yearly report's) has no parent to roll into and is
    accepted as a bare value, which wins over the computed one as any reported value does.
    """
    return area != root


def _outside(ind: Indikator, value: float, where: str, bound: float) -> str:
    return f"value {shown(value)} is {where} {shown(bound)} of {ind.id!r}"


def too_large(what: str) -> str:
    """The message for a number beyond MAX_MAGNITUDE."""
    return f"{what} is beyond ±{shown(MAX_MAGNITUDE)}, the bound that keeps sums up the area tree finite"


def _not_ratio(
    ind: Indikator,
    value: float | None,
    num: float | None,
    den: float | None,
    retract: bool,
    out: Problems,
) -> None:
    for name, part in (("numerator", num), ("denominator", den)):
        if part is not None:
            message = f"{ind.id!r} is a {ind.kind.value}, not a ratio"
            out.add(name, ErrorCode.RATIO_PARTS_NOT_ALLOWED, message)
    if value is None and not retract:
        out.add("value", ErrorCode.MISSING_VALUE, "value is required unless retract is true")
    elif value is not None and ind.kind is Kind.COUNT and value < 0:
        out.add("value", ErrorCode.NEGATIVE_COUNT, f"a count cannot be negative ({shown(value)})")


def _ratio(
    ind: Indikator,
    value: float | None,
    num: float | None,
    den: float | None,
    retract: bool,
    out: Problems,
) -> float | None:
    """Ratio rules; the value, computed from the parts when absent and the unit has a scale."""
    if num is not None and num < 0:
        out.add(
            "numerator",
            ErrorCode.NEGATIVE_NUMERATOR,
            f"numerator cannot be negative ({shown(num)})",
        )
    if den is not None and den <= 0:
        out.add(
            "denominator", ErrorCode.BAD_DENOMINATOR, f"denominator must be positive ({shown(den)})"
        )
    if retract:
        return value
    if num is None:
        out.add("numerator", ErrorCode.MISSING_NUMERATOR, f"numerator is required for {ind.id!r}")
    if den is None:
        message = f"denominator is required for {ind.id!r}"
        out.add("denominator", ErrorCode.MISSING_DENOMINATOR, message)
    scale = RATIO_SCALE.get(ind.unit)
    if scale is None and value is None:
        out.add("value", ErrorCode.MISSING_VALUE, f"value is required (unit {ind.unit!r})")
    if num is None or den is None or num < 0 or den <= 0:
        return value
    if ind.is_share and num > den:
        message = (
            f"numerator {shown(num)} is greater than denominator {shown(den)}: a share (unit"
            f" {ind.unit!r}) cannot exceed its whole ({shown(ind.ratio_scale)})"
        )
        out.add("numerator", ErrorCode.NUMERATOR_EXCEEDS_DENOMINATOR, message)
    if num > MAX_MAGNITUDE or den > MAX_MAGNITUDE:
        return value
    expected = ind.ratio_scale * num / den
    if not expected <= MAX_MAGNITUDE:
        what = f"{shown(ind.ratio_scale)}·numerator/denominator = {shown(expected)} (a tiny denominator)"
        out.add("denominator", ErrorCode.NUMBER_TOO_LARGE, too_large(what))
        return value
    if scale is None:
        return value
    if value is None:
        return expected
    if abs(value - expected) > RATIO_TOLERANCE:
        message = (
            f"value {shown(value)} differs from {shown(scale)}·numerator/denominator = {expected:.4f}"
            f" by more than {RATIO_TOLERANCE}"
        )
        out.add("value", ErrorCode.INCONSISTENT_VALUE, message)
    return value
