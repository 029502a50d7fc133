"""Status of a series: worked examples, every threshold boundary, edge cases, and the method's laws."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from random import Random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from shared.domain.catalog import Baseline, Direction, Target
from shared.domain.status import (
    RANKED,
    Point,
    Reason,
    StatusCode,
    StatusResult,
    Thresholds,
    Trend,
    X0Source,
    assess,
    cagr,
    classify_ratio,
    classify_trend,
    combine,
)

UP, DOWN = Direction.INCREASE, Direction.DECREASE
S = StatusCode


def series(*pairs: tuple[str, float]) -> list[Point]:
    return [Point(period, value) for period, value in pairs]


def base(period: str, value: float) -> Baseline:
    return Baseline(period=period, value=value)


def goal(value: float, year: int) -> Target:
    return Target(value=value, year=year)


def verdict(r: StatusResult) -> tuple[StatusCode, Trend | None, Reason | None]:
    return r.status, r.trend, r.reason


# --- worked examples, computed by hand ------------------------------------------------------


def test_increase_ahead_of_schedule_is_i_fas() -> None:
    # Baseline 2019: 60, target 75 by 2030, latest 2022: 66.
    # CAGR_actual = (66/60)^(1/3) − 1 = exp(ln 1.1 / 3) − 1 = exp(0.0317701) − 1 = 0.032280
    # CAGR_required = (75/60)^(1/11) − 1 = exp(ln 1.25 / 11) − 1 = exp(0.0202858) − 1 = 0.020493
    # R = 0.032280 / 0.020493 = 1.5752 ≥ 0.95 → i_fas
    r = assess(
        series(("2019", 60), ("2020", 62), ("2022", 66)), UP, base("2019", 60), goal(75, 2030)
    )
    assert verdict(r) == (S.I_FAS, Trend.FORBATTRING, None)
    assert (r.x0, r.t0, r.xt, r.t, r.x_target, r.t_target) == (60, 2019, 66, 2022, 75, 2030)
    assert r.cagr_actual == pytest.approx(0.032280, abs=1e-6)
    assert r.cagr_required == pytest.approx(0.020493, abs=1e-6)
    assert r.ratio == pytest.approx(1.5752, abs=1e-4)
    assert (r.baseline_period, r.latest_period) == ("2019", "2022")


def test_decrease_target_gives_positive_ratio_when_moving_down() -> None:
    # No baseline: x0 is the first period with data, 2020: 20. Target 10 by 2030, latest 2025: 15.
    # CAGR_actual = 0.75^(1/5) − 1 = exp(−0.2876821 / 5) − 1 = −0.055912
    # CAGR_required = 0.5^(1/10) − 1 = exp(−0.0693147) − 1 = −0.066967
    # R = −0.055912 / −0.066967 = 0.8349: both negative, so the ratio is positive → viss_framgang
    r = assess(series(("2025", 15), ("2020", 20)), DOWN, None, goal(10, 2030))
    assert verdict(r) == (S.VISS_FRAMGANG, Trend.FORBATTRING, None)
    assert r.cagr_actual == pytest.approx(-0.055912, abs=1e-6)
    assert r.cagr_required == pytest.approx(-0.066967, abs=1e-6)
    assert r.ratio == pytest.approx(0.8349, abs=1e-4)
    assert r.baseline_period == "2020"


def test_decrease_target_moving_up_is_forsamring() -> None:
    # 20 → 25 over five years: CAGR_actual = 1.25^(1/5) − 1 = +0.045640; R = 0.04564/−0.066967 = −0.68
    r = assess(series(("2020", 20), ("2025", 25)), DOWN, None, goal(10, 2030))
    assert verdict(r) == (S.FORSAMRING, Trend.FORSAMRING, None)
    assert r.ratio == pytest.approx(-0.6815, abs=1e-4)


def test_sub_year_periods_use_decimal_positions() -> None:
    # Baseline 2024-T1 (t0 = 2024.0): 50, latest 2025-T2 (t = 2025.333…): 51, target 60 by 2027.
    # CAGR_actual = 1.02^(1/(4/3)) − 1 = exp(0.75 · 0.0198026) − 1 = 0.014963
    # CAGR_required = 1.2^(1/3) − 1 = exp(0.0607739) − 1 = 0.062658;  R = 0.2388 → ingen_framgang
    pts = series(("2024-T1", 50), ("2024-T3", 50.5), ("2025-T2", 51))
    r = assess(pts, UP, base("2024-T1", 50), goal(60, 2027))
    assert r.status is S.INGEN_FRAMGANG
    assert r.t == pytest.approx(2025 + 1 / 3)
    assert r.cagr_actual == pytest.approx(0.014963, abs=1e-6)
    assert r.ratio == pytest.approx(0.2388, abs=1e-4)


def test_as_dict_is_json_native() -> None:
    r = assess(series(("2020", 20), ("2025", 15)), DOWN, None, goal(10, 2030))
    data = r.as_dict()
    assert (data["status"], data["trend"]) == ("viss_framgang", "forbattring")
    assert {type(data["status"]), type(data["trend"])} == {str}
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert set(data) >= {"x0", "t0", "xt", "t", "x_target", "t_target", "cagr_actual"}
    assert set(data) >= {"cagr_required", "ratio", "reason", "baseline_period", "latest_period"}


# --- thresholds -------------------------------------------------------------------------------

BELOW = -math.inf


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        (0.95, S.I_FAS),
        (math.nextafter(0.95, BELOW), S.VISS_FRAMGANG),
        (0.5, S.VISS_FRAMGANG),
        (math.nextafter(0.5, BELOW), S.INGEN_FRAMGANG),
        (-0.1, S.INGEN_FRAMGANG),
        (math.nextafter(-0.1, BELOW), S.FORSAMRING),
        (1e9, S.I_FAS),
        (0.0, S.INGEN_FRAMGANG),
        (-1e9, S.FORSAMRING),
    ],
)
def test_ratio_thresholds_are_inclusive_below(ratio: float, expected: StatusCode) -> None:
    assert classify_ratio(ratio) is expected


@pytest.mark.parametrize(
    ("rate", "direction", "expected"),
    [
        (0.005, UP, Trend.FORBATTRING),
        (math.nextafter(0.005, BELOW), UP, Trend.OFORANDRAD),
        (-0.005, UP, Trend.FORSAMRING),
        (math.nextafter(-0.005, math.inf), UP, Trend.OFORANDRAD),
        (0.0, UP, Trend.OFORANDRAD),
        (0.005, DOWN, Trend.FORSAMRING),
        (-0.005, DOWN, Trend.FORBATTRING),
        (-0.0049, DOWN, Trend.OFORANDRAD),
    ],
)
def test_trend_flat_band_is_half_a_percent(
    rate: float, direction: Direction, expected: Trend
) -> None:
    assert classify_trend(rate, direction) is expected


@pytest.mark.parametrize(
    ("field", "others", "at", "just_below"),
    [
        ("i_fas", {"viss_framgang": -1, "ingen_framgang": -2}, S.I_FAS, S.VISS_FRAMGANG),
        ("viss_framgang", {"i_fas": 10, "ingen_framgang": -2}, S.VISS_FRAMGANG, S.INGEN_FRAMGANG),
        ("ingen_framgang", {"i_fas": 10, "viss_framgang": 9}, S.INGEN_FRAMGANG, S.FORSAMRING),
    ],
)
def test_assess_applies_configured_thresholds_inclusively(
    field: str, others: dict[str, float], at: StatusCode, just_below: StatusCode
) -> None:
    pts, target = series(("2019", 60), ("2022", 62)), goal(75, 2030)
    ratio = assess(pts, UP, None, target).ratio
    assert ratio is not None
    exact = Thresholds(**{field: ratio}, **others)
    assert assess(pts, UP, None, target, thresholds=exact).status is at
    raised = replace(exact, **{field: math.nextafter(ratio, math.inf)})
    assert assess(pts, UP, None, target, thresholds=raised).status is just_below


def test_configured_trend_band_and_zero_replacement_are_used() -> None:
    pts = series(("2020", 100), ("2021", 101))  # +1 %/year
    assert assess(pts, UP, None, None).trend is Trend.FORBATTRING
    assert (
        assess(pts, UP, None, None, thresholds=Thresholds(trend_flat=0.02)).trend
        is Trend.OFORANDRAD
    )
    zero = series(("2020", 0), ("2021", 1))
    r = assess(zero, UP, None, None, thresholds=Thresholds(zero_replacement=0.5))
    assert r.cagr_actual == pytest.approx(1.0)  # (1 / 0.5)^1 − 1
    assert r.x0 == 0  # the reported input is the data; the replacement is the method's


# --- edge cases -------------------------------------------------------------------------------


def test_no_data_and_a_single_period_are_saknar_data() -> None:
    assert verdict(assess([], UP, base("2019", 60), goal(75, 2030))) == (
        S.SAKNAR_DATA,
        None,
        Reason.NO_DATA,
    )
    one = assess(series(("2022", 66)), UP, None, goal(75, 2030))
    assert verdict(one) == (S.SAKNAR_DATA, None, Reason.FEWER_THAN_TWO_PERIODS)
    assert (one.xt, one.latest_period, one.ratio, one.x0, one.x0_source) == (
        66,
        "2022",
        None,
        None,
        None,
    )
    # Two versions of one period are one period; the later point wins.
    dup = assess(series(("2022", 1), ("2022", 66)), UP, None, None)
    assert (dup.reason, dup.xt) == (Reason.FEWER_THAN_TWO_PERIODS, 66)


def test_a_catalog_baseline_and_one_period_after_it_give_a_status() -> None:
    # behorighet-gymnasiet: baseline 2019: 86.2, target 92 by 2030, the first real value 2024: 88.1.
    # CAGR_actual = (88.1/86.2)^(1/5) − 1 = exp(0.0218024 / 5) − 1 = 0.0043700
    # CAGR_required = (92/86.2)^(1/11) − 1 = exp(0.0651184 / 11) − 1 = 0.0059374
    # R = 0.0043700 / 0.0059374 = 0.7360 → viss_framgang; 0.44 %/year is inside the flat band.
    r = assess(series(("2024", 88.1)), UP, base("2019", 86.2), goal(92, 2030))
    assert verdict(r) == (S.VISS_FRAMGANG, Trend.OFORANDRAD, None)
    assert (r.x0, r.t0, r.xt, r.t, r.x0_source) == (86.2, 2019, 88.1, 2024, X0Source.BASELINE)
    assert r.cagr_actual == pytest.approx(0.0043700, abs=1e-7)
    assert r.cagr_required == pytest.approx(0.0059374, abs=1e-7)
    assert r.ratio == pytest.approx(0.7360, abs=1e-4)
    assert r.as_dict()["x0_source"] == "baseline"


def test_an_observation_of_the_baseline_period_itself_is_not_after_it() -> None:
    r = assess(series(("2019", 87.0)), UP, base("2019", 86.2), goal(92, 2030))
    assert verdict(r) == (S.SAKNAR_DATA, None, Reason.NO_DATA_AFTER_BASELINE)
    assert (r.x0, r.xt, r.x0_source) == (86.2, 87.0, X0Source.BASELINE)


def test_without_a_baseline_x0_is_the_first_period() -> None:
    r = assess(series(("2024", 88.1), ("2019", 86.2)), UP, None, goal(92, 2030))
    assert (r.status, r.x0, r.baseline_period, r.x0_source) == (
        S.VISS_FRAMGANG,
        86.2,
        "2019",
        X0Source.FIRST_PERIOD,
    )


@pytest.mark.parametrize("baseline_period", ["2022", "2023", "2022-HT"])
def test_no_data_after_the_baseline_is_saknar_data(baseline_period: str) -> None:
    r = assess(series(("2021", 50), ("2022", 55)), UP, base(baseline_period, 55), goal(75, 2030))
    assert verdict(r) == (S.SAKNAR_DATA, None, Reason.NO_DATA_AFTER_BASELINE)
    assert r.baseline_period == baseline_period


def test_data_before_the_baseline_is_ignored_for_x0() -> None:
    r = assess(series(("2015", 1), ("2022", 66)), UP, base("2019", 60), goal(75, 2030))
    assert (r.x0, r.t0, r.status) == (60, 2019, S.I_FAS)  # as in the first worked example


def test_no_target_is_saknar_mal_with_a_trend() -> None:
    r = assess(series(("2020", 100), ("2024", 90)), UP, None, None)
    assert verdict(r) == (S.SAKNAR_MAL, Trend.FORSAMRING, Reason.NO_TARGET)
    assert (r.cagr_required, r.ratio, r.x_target) == (None, None, None)
    assert r.cagr_actual == pytest.approx(0.9 ** (1 / 4) - 1)


def test_stale_is_saknar_data_but_keeps_trend_and_inputs() -> None:
    pts, target = series(("2020", 20), ("2025", 15)), goal(10, 2030)
    fresh = assess(pts, DOWN, None, target)
    stale = assess(pts, DOWN, None, target, stale=True)
    assert verdict(stale) == (S.SAKNAR_DATA, Trend.FORBATTRING, Reason.STALE)
    assert replace(stale, status=fresh.status, reason=None) == fresh
    lonely = assess(series(("2025", 15)), DOWN, None, target, stale=True)
    assert lonely.reason is Reason.FEWER_THAN_TWO_PERIODS


@pytest.mark.parametrize(
    ("latest", "direction", "expected"),
    [(75, UP, S.UPPNATT), (80, UP, S.UPPNATT), (10, DOWN, S.UPPNATT), (9, DOWN, S.UPPNATT)],
)
def test_reaching_the_target_is_uppnatt(latest: float, direction: Direction, expected: S) -> None:
    start, target = (60, 75) if direction is UP else (20, 10)
    r = assess(series(("2019", start), ("2021", latest)), direction, None, goal(target, 2030))
    assert (r.status, r.reason) == (expected, None)


def test_deadline_passed_still_judges_by_the_ratio() -> None:
    # t > t*: the required rate is still the one from t0 to t*. 60 → 70 over 2019–2024 against
    # 60 → 75 by 2022: CAGR_actual = (7/6)^(1/5) − 1 = 0.031310, CAGR_required = 1.25^(1/3) − 1
    # = 0.077217, R = 0.4055 → ingen_framgang.
    r = assess(series(("2019", 60), ("2024", 70)), UP, None, goal(75, 2022))
    assert r.status is S.INGEN_FRAMGANG
    assert r.ratio == pytest.approx(0.4055, abs=1e-4)


@pytest.mark.parametrize(("latest", "expected"), [(75, S.UPPNATT), (74, S.SAKNAR_MAL)])
def test_target_year_not_after_baseline(latest: float, expected: StatusCode) -> None:
    r = assess(series(("2019", 60), ("2024", latest)), UP, base("2020", 60), goal(75, 2020))
    assert (r.status, r.reason) == (expected, Reason.TARGET_YEAR_NOT_AFTER_BASELINE)
    assert r.trend is Trend.FORBATTRING
    assert r.ratio is None


@pytest.mark.parametrize(
    ("latest", "expected", "trend"),
    [
        (80, S.UPPNATT, Trend.OFORANDRAD),  # target equals baseline: holding it is reaching it
        (79.9, S.INGEN_FRAMGANG, Trend.OFORANDRAD),  # slipped within the flat band
        (70, S.FORSAMRING, Trend.FORSAMRING),
    ],
)
def test_target_equal_to_baseline_asks_to_hold_the_line(
    latest: float, expected: StatusCode, trend: Trend
) -> None:
    r = assess(series(("2020", 80), ("2024", latest)), UP, None, goal(80, 2030))
    assert verdict(r)[:2] == (expected, trend)
    assert r.cagr_required == 0
    assert r.ratio is None
    assert r.reason is Reason.TARGET_NOT_BEYOND_BASELINE


@pytest.mark.parametrize(("latest", "expected"), [(75, S.UPPNATT), (60, S.FORSAMRING)])
def test_target_behind_the_baseline_is_a_floor(latest: float, expected: StatusCode) -> None:
    # Increase wanted, yet the target (70) is below the baseline (80): the target is already met,
    # so R (two negative-signed rates) would mislead; staying at or above 70 is uppnatt.
    r = assess(series(("2020", 80), ("2024", latest)), UP, None, goal(70, 2030))
    assert (r.status, r.reason, r.ratio) == (expected, Reason.TARGET_NOT_BEYOND_BASELINE, None)


def test_a_fall_to_zero_below_a_floor_is_forsamring_though_the_rates_say_forbattring() -> None:
    # Increase, 2011: 0.0002 → 2013: 0.0, target 0.0002 (= x₀) by 2035. The zero replacement makes
    # the rate (0.001/0.0002)^(1/2) − 1 = +1.2361 (trend forbattring), but the data fell below the
    # floor: a setback, as the floor rule says (ingen_framgang only within the flat band).
    r = assess(series(("2011", 0.0002), ("2013", 0.0)), UP, None, goal(0.0002, 2035))
    assert verdict(r) == (S.FORSAMRING, Trend.FORBATTRING, Reason.TARGET_NOT_BEYOND_BASELINE)
    assert r.cagr_actual == pytest.approx(math.sqrt(5) - 1)
    assert (r.cagr_required, r.ratio, r.xt) == (0, None, 0)


def test_rates_between_far_apart_values_use_a_difference_of_logs() -> None:
    # 1e-300 / 1e300 underflows to 0 before the log; ln 1e-300 − ln 1e300 = −1381.55 does not.
    # Decrease 2010: 1e300 → 2020: 1e-300, target 1.0 by 2030: reached.
    r = assess(series(("2010", 1e300), ("2020", 1e-300)), DOWN, None, goal(1.0, 2030))
    assert (r.status, r.reason) == (S.UPPNATT, None)
    assert r.cagr_actual == pytest.approx(-1.0)
    assert r.cagr_required == pytest.approx(math.expm1(-math.log(1e300) / 20))
    assert cagr(1e-300, 1e300, 1000) == pytest.approx(math.expm1(2 * math.log(1e300) / 1000))


def test_zero_values_are_replaced_in_rates_but_not_in_the_comparison() -> None:
    # Decrease to zero: CAGR_required = (0.001/10)^(1/10) − 1 = 10^(−0.4) − 1 = −0.601893;
    # CAGR_actual = (5/10)^(1/5) − 1 = −0.129449; R = 0.2151 → ingen_framgang (the method is harsh
    # on zero targets: it asks for a constant relative fall all the way to 0.001).
    r = assess(series(("2020", 10), ("2025", 5)), DOWN, None, goal(0, 2030))
    assert r.status is S.INGEN_FRAMGANG
    assert r.cagr_required == pytest.approx(-0.601893, abs=1e-6)
    assert r.ratio == pytest.approx(0.2151, abs=1e-4)
    assert r.x_target == 0
    reached = assess(series(("2020", 10), ("2025", 0)), DOWN, None, goal(0, 2030))
    assert (reached.status, reached.xt) == (S.UPPNATT, 0)
    from_zero = assess(series(("2020", 0), ("2021", 5)), UP, None, goal(10, 2030))
    assert from_zero.cagr_actual == pytest.approx(5 / 0.001 - 1)
    assert from_zero.status is S.I_FAS


@pytest.mark.parametrize(
    ("pts", "baseline", "target", "reason"),
    [
        (series(("2020", -1), ("2021", 5)), None, goal(10, 2030), Reason.NEGATIVE_VALUE),
        (series(("2020", 1), ("2021", -5)), None, None, Reason.NEGATIVE_VALUE),
        (series(("2020", 1), ("2021", 5)), None, goal(-10, 2030), Reason.NEGATIVE_VALUE),
        (series(("2020", 1), ("2021", 5)), base("2019", -3), None, Reason.NEGATIVE_VALUE),
        (series(("2020", 1), ("2021", math.nan)), None, None, Reason.INVALID_VALUE),
        (series(("2020", 1), ("2021", math.inf)), None, None, Reason.INVALID_VALUE),
        (series(("2020", 1), ("2021", 2)), base("2019", math.nan), None, Reason.INVALID_VALUE),
        (series(("2020", 1), ("2021", 2)), None, goal(math.inf, 2030), Reason.INVALID_VALUE),
        ([Point("2020", "x"), Point("2021", 2)], None, None, Reason.INVALID_VALUE),  # type: ignore[arg-type]
        (series(("2020", 1), ("2021-H1", 2)), None, None, Reason.BAD_PERIOD),
        (series(("2020", 1), ("2021", 2)), base("last year", 1), None, Reason.BAD_PERIOD),
        (series(("2020-01", 1e-300), ("2020-02", 1e300)), None, None, Reason.OUT_OF_RANGE),
    ],
)
def test_odd_numbers_are_saknar_data_with_a_reason(
    pts: list[Point], baseline: Baseline | None, target: Target | None, reason: Reason
) -> None:
    r = assess(pts, UP, baseline, target)
    assert (r.status, r.reason) == (S.SAKNAR_DATA, reason)
    json.dumps(r.as_dict(), allow_nan=False)


# --- coverage of computed values ---------------------------------------------------------------

RINKEBY_ONLY = 1 / 13  # one of the city's 13 stadsdelsområden has a value


def test_a_computed_latest_value_below_min_coverage_is_shown_not_judged() -> None:
    pts = [Point("2019", 86.2, True, 1.0), Point("2024", 71.0, True, RINKEBY_ONLY)]
    r = assess(pts, UP, base("2019", 86.2), goal(92, 2030), min_coverage=0.8)
    assert verdict(r) == (S.SAKNAR_DATA, None, Reason.LOW_COVERAGE)
    assert (r.xt, r.latest_period, r.coverage) == (71.0, "2024", RINKEBY_ONLY)
    assert (r.x0, r.cagr_actual, r.ratio) == (None, None, None)
    # Stale or not, low coverage is the reason (staleness replaces only a standing status).
    stale = assess(pts, UP, base("2019", 86.2), goal(92, 2030), stale=True, min_coverage=0.8)
    assert stale.reason is Reason.LOW_COVERAGE


@pytest.mark.parametrize(
    ("point", "status"),
    [
        (Point("2024", 88.1, False, RINKEBY_ONLY), S.VISS_FRAMGANG),  # reported: judged as before
        (Point("2024", 88.1, True, 0.8), S.VISS_FRAMGANG),  # at the bound: judged
        (Point("2024", 88.1, True, math.nextafter(0.8, 0)), S.SAKNAR_DATA),
        (Point("2024", 88.1, True, None), S.VISS_FRAMGANG),  # no coverage known: judged
    ],
)
def test_min_coverage_applies_to_computed_values_only(point: Point, status: StatusCode) -> None:
    r = assess([point], UP, base("2019", 86.2), goal(92, 2030), min_coverage=0.8)
    assert r.status is status
    assert assess([point], UP, base("2019", 86.2), goal(92, 2030)).status is S.VISS_FRAMGANG


def test_an_earlier_thin_value_is_not_taken_as_x0() -> None:
    pts = [Point("2018", 10.0, True, 0.25), Point("2019", 60, True, 1.0), Point("2022", 66)]
    r = assess(pts, UP, None, goal(75, 2030), min_coverage=0.8)
    assert (r.x0, r.baseline_period, r.status) == (60, "2019", S.I_FAS)
    alone = assess(pts[:1] + pts[2:], UP, None, goal(75, 2030), min_coverage=0.8)
    assert alone.reason is Reason.FEWER_THAN_TWO_PERIODS


def test_mixed_period_types_use_decimal_positions() -> None:
    # Yearly baseline (2019.0) against a monthly latest value (2024-07 → 2024.5): 5.5 years.
    r = assess(series(("2024-06", 62), ("2024-07", 66)), UP, base("2019", 60), goal(75, 2030))
    assert (r.t0, r.t) == (2019.0, 2024.5)
    assert r.cagr_actual == pytest.approx(1.1 ** (1 / 5.5) - 1)


# --- laws -------------------------------------------------------------------------------------

Case = tuple[list[Point], Direction, Baseline, Target]
POSITIVE = st.floats(0.01, 1e6, allow_nan=False)


@st.composite
def judged(draw: st.DrawFn) -> Case:
    """A well-formed case: positive values, data after the baseline, a target beyond it."""
    direction = draw(st.sampled_from(list(Direction)))
    t0 = draw(st.integers(2000, 2020))
    years = draw(st.lists(st.integers(t0 + 1, 2029), min_size=1, max_size=5, unique=True))
    x0 = draw(POSITIVE)
    values = draw(st.lists(POSITIVE, min_size=len(years), max_size=len(years)))
    factor = draw(st.floats(1.01, 10))
    x_star = x0 * factor if direction is UP else x0 / factor
    pts = [Point(str(t0), x0)] + [Point(str(y), v) for y, v in zip(years, values, strict=True)]
    return pts, direction, base(str(t0), x0), goal(x_star, draw(st.integers(t0 + 1, 2040)))


@given(
    st.lists(
        st.builds(
            Point,
            st.one_of(
                st.sampled_from(["2020", "2021-T2", "2022-Q4", "2023-07", "2024-HT"]), st.text()
            ),
            st.floats(),
            st.booleans(),
            st.none() | st.floats(0, 1),
        ),
        max_size=6,
    ),
    st.sampled_from(list(Direction)),
    st.none() | st.builds(base, st.sampled_from(["2019", "2023-VT", "x"]), st.floats()),
    st.none() | st.builds(goal, st.floats(), st.integers(-5000, 5000)),
    st.booleans(),
    st.none() | st.floats(0.01, 1),
)
def test_assess_never_raises_and_is_json_native(
    pts: list[Point],
    direction: Direction,
    baseline: Baseline | None,
    target: Target | None,
    stale: bool,
    min_coverage: float | None,
) -> None:
    r = assess(pts, direction, baseline, target, stale=stale, min_coverage=min_coverage)
    assert r.status in set(StatusCode)
    json.dumps(r.as_dict(), allow_nan=False)
    if r.reason is None:  # a plain judgement, so R exists and decides unless the target is reached
        assert r.status in RANKED
        assert r.ratio is not None
        assert r.status is S.UPPNATT or r.status is classify_ratio(r.ratio)


@given(judged())
def test_uppnatt_exactly_when_the_target_is_reached(case: Case) -> None:
    pts, direction, baseline, target = case
    r = assess(pts, direction, baseline, target)
    latest = max(pts[1:], key=lambda p: p.period).value
    reached = direction.sign * (latest - target.value) >= 0
    assert (r.status is S.UPPNATT) == reached
    assert r.reason is None
    assert r.trend is classify_trend(r.cagr_actual or 0.0, direction)


@given(judged())
def test_ratio_sign_follows_movement_in_the_desired_direction(case: Case) -> None:
    pts, direction, baseline, target = case
    r = assess(pts, direction, baseline, target)
    assert r.ratio is not None
    assert r.xt is not None
    moved = direction.sign * (r.xt - baseline.value)
    assume(abs(moved) > 1e-9 * baseline.value)  # below that, float rounding decides the sign
    if moved > 0:
        assert r.ratio > 0
        assert r.status is not S.FORSAMRING
    elif moved < 0:
        assert r.ratio < 0


@given(judged(), st.floats(0.01, 100))
def test_rescaling_all_values_leaves_the_ratio_unchanged(case: Case, k: float) -> None:
    pts, direction, baseline, target = case
    scaled = assess(
        [Point(p.period, p.value * k) for p in pts],
        direction,
        base(baseline.period, baseline.value * k),
        goal(target.value * k, target.year),
    )
    assert scaled.ratio == pytest.approx(assess(pts, direction, baseline, target).ratio, rel=1e-6)


@given(judged())
def test_with_a_baseline_only_the_latest_period_matters(case: Case) -> None:
    pts, direction, baseline, target = case
    latest = max(pts[1:], key=lambda p: p.period)
    alone = assess([latest], direction, baseline, target)
    assert alone == assess(pts, direction, baseline, target)
    assert (alone.x0, alone.x0_source) == (baseline.value, X0Source.BASELINE)


@given(judged(), st.floats(0.01, 1), st.floats(0, 1))
def test_a_thin_computed_latest_value_is_never_judged(
    case: Case, min_coverage: float, coverage: float
) -> None:
    pts, direction, baseline, target = case
    latest = max(pts[1:], key=lambda p: p.period)
    computed = [p if p is not latest else replace(p, computed=True, coverage=coverage) for p in pts]
    r = assess(computed, direction, baseline, target, min_coverage=min_coverage)
    if coverage < min_coverage:
        assert (r.status, r.reason, r.coverage) == (S.SAKNAR_DATA, Reason.LOW_COVERAGE, coverage)
    else:
        assert replace(r, coverage=None) == assess(pts, direction, baseline, target)
    reported = [replace(p, coverage=coverage) for p in pts]
    judged_as_before = assess(reported, direction, baseline, target, min_coverage=min_coverage)
    assert judged_as_before == assess(pts, direction, baseline, target)


@given(judged(), st.randoms())
def test_order_of_points_does_not_matter(case: Case, rnd: Random) -> None:
    pts, direction, _, target = case
    shuffled = list(pts)
    rnd.shuffle(shuffled)
    assert assess(shuffled, direction, None, target) == assess(pts, direction, None, target)


# --- combining an etappmål --------------------------------------------------------------------


def test_combine_takes_the_least_favourable_ranked_status() -> None:
    status, counts = combine([S.UPPNATT, S.VISS_FRAMGANG, S.SAKNAR_DATA, S.I_FAS, S.VISS_FRAMGANG])
    assert status is S.VISS_FRAMGANG
    assert counts == {
        "uppnatt": 1,
        "i_fas": 1,
        "viss_framgang": 2,
        "ingen_framgang": 0,
        "forsamring": 0,
        "saknar_mal": 0,
        "saknar_data": 1,
    }


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([S.SAKNAR_MAL, S.SAKNAR_DATA], S.SAKNAR_DATA),
        ([S.SAKNAR_MAL, S.SAKNAR_MAL], S.SAKNAR_MAL),
        ([S.SAKNAR_DATA, S.UPPNATT], S.UPPNATT),
        ([S.FORSAMRING, S.SAKNAR_MAL], S.FORSAMRING),
        ([], S.SAKNAR_DATA),
        (["i_fas", "ingen_framgang"], S.INGEN_FRAMGANG),
    ],
)
def test_combine_reports_unranked_statuses_beside(statuses: list[S], expected: S) -> None:
    assert combine(statuses)[0] is expected


@given(st.lists(st.sampled_from(list(StatusCode))))
def test_combine_is_the_minimum_over_the_ranking(statuses: list[StatusCode]) -> None:
    status, counts = combine(statuses)
    assert sum(counts.values()) == len(statuses)
    assert set(counts) == {code.value for code in StatusCode}
    ranked = [s for s in statuses if s in RANKED]
    if ranked:
        assert status is min(ranked, key=RANKED.index)
    assert combine(list(reversed(statuses))) == (status, counts)
