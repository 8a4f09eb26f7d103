"""Hand-checkable numbers for shared.optionmath."""

from __future__ import annotations

import math
from datetime import date

import pytest

from shared.optionmath import (
    annualized_return,
    bsm_put_delta,
    calendar_dte,
    mid,
    option_tick,
    prob_otm_from_delta,
    round_to_tick,
    spread_pct,
)

TODAY = date(2026, 11, 20)


class TestCalendarDte:
    def test_string_and_date(self) -> None:
        assert calendar_dte("20261225", TODAY) == 35
        assert calendar_dte(date(2026, 12, 25), TODAY) == 35

    def test_expiration_day_and_past(self) -> None:
        assert calendar_dte("20261120", TODAY) == 0
        assert calendar_dte("20261119", TODAY) == -1

    def test_crosses_year_and_leap_day(self) -> None:
        assert calendar_dte("20270115", TODAY) == 56
        assert calendar_dte("20280301", date(2028, 2, 28)) == 2  # 2028 is a leap year

    @pytest.mark.parametrize("bad", ["2026-12-25", "202612", "20261332", "20260230", "abcdefgh", ""])
    def test_bad_string_names_value(self, bad: str) -> None:
        with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
            calendar_dte(bad, TODAY)


class TestAnnualizedReturn:
    def test_600_strike_3_dollars_30_days(self) -> None:
        # 3 / 600 = 0.5 % for 30 days → × 365/30 = 6.083 %
        assert annualized_return(3.00, 600.0, 30) == pytest.approx(0.0608333, rel=1e-6)

    def test_12_percent_example(self) -> None:
        # $1.00 on a $100 strike for 36.5 days would be 10 %; for 30 days: 0.01 × 365/30
        assert annualized_return(1.00, 100.0, 30) == pytest.approx(0.121666, rel=1e-5)

    def test_zero_dte_is_one_day(self) -> None:
        assert annualized_return(0.10, 100.0, 0) == pytest.approx(0.365)
        assert annualized_return(0.10, 100.0, -3) == pytest.approx(0.365)

    @pytest.mark.parametrize("collateral", [0.0, -5.0, math.nan])
    def test_bad_collateral(self, collateral: float) -> None:
        with pytest.raises(ValueError, match="collateral"):
            annualized_return(1.0, collateral, 30)


class TestProbOtm:
    @pytest.mark.parametrize(("delta", "expected"), [(-0.25, 0.75), (0.25, 0.75), (-0.16, 0.84), (0.0, 1.0)])
    def test_one_minus_abs_delta(self, delta: float, expected: float) -> None:
        assert prob_otm_from_delta(delta) == pytest.approx(expected)

    @pytest.mark.parametrize("delta", [1.2, -1.01, math.nan, math.inf])
    def test_invalid(self, delta: float) -> None:
        with pytest.raises(ValueError):
            prob_otm_from_delta(delta)


class TestMidAndSpread:
    def test_mid_exact_decimal(self) -> None:
        assert mid(0.1, 0.2) == 0.15
        assert mid(2.95, 3.05) == 3.0
        assert mid(1.10, 1.10) == 1.10

    @pytest.mark.parametrize(
        ("bid", "ask"),
        [(None, 1.0), (1.0, None), (0.0, 1.0), (-1.0, 1.0), (1.0, -1.0), (math.nan, 1.0), (1.2, 1.1)],
    )
    def test_mid_none(self, bid: float | None, ask: float | None) -> None:
        assert mid(bid, ask) is None
        assert spread_pct(bid, ask) is None

    def test_spread(self) -> None:
        assert spread_pct(0.95, 1.05) == 0.10  # exactly, no float noise
        assert spread_pct(2.90, 3.10) == pytest.approx(0.2 / 3.0)
        assert spread_pct(1.0, 1.0) == 0.0


class TestRoundToTick:
    def test_awkward_float(self) -> None:
        assert round_to_tick(1.1500000000000001, 0.05) == 1.15
        assert round_to_tick(1.1500000000000001, 0.05, "up") == 1.15
        assert round_to_tick(1.1499999999999999, 0.05, "down") == 1.15
        assert round_to_tick(0.1 + 0.2, 0.01) == 0.3
        assert repr(round_to_tick(2.675, 0.01)) == "2.68"

    def test_modes(self) -> None:
        assert round_to_tick(1.12, 0.05) == 1.10
        assert round_to_tick(1.13, 0.05) == 1.15
        assert round_to_tick(1.125, 0.05) == 1.15  # half tick → away from zero
        assert round_to_tick(1.11, 0.05, "up") == 1.15
        assert round_to_tick(1.14, 0.05, "down") == 1.10
        assert round_to_tick(3.333, 0.01) == 3.33

    def test_negative_price(self) -> None:
        assert round_to_tick(-0.123, 0.05) == -0.10
        assert round_to_tick(-0.123, 0.05, "up") == -0.10
        assert round_to_tick(-0.123, 0.05, "down") == -0.15

    @pytest.mark.parametrize(("price", "tick", "mode"), [(1.0, 0.0, "nearest"), (math.nan, 0.05, "nearest")])
    def test_bad_inputs(self, price: float, tick: float, mode: str) -> None:
        with pytest.raises(ValueError):
            round_to_tick(price, tick, mode)  # type: ignore[arg-type]

    def test_bad_mode(self) -> None:
        with pytest.raises(ValueError, match="mode"):
            round_to_tick(1.0, 0.05, "sideways")  # type: ignore[arg-type]


class TestOptionTick:
    def test_penny_program(self) -> None:
        assert option_tick(2.99) == 0.01
        assert option_tick(3.00) == 0.05
        assert option_tick(12.40) == 0.05

    def test_all_prices_penny(self) -> None:
        assert option_tick(2.99, all_prices_penny=True) == 0.01
        assert option_tick(15.00, all_prices_penny=True) == 0.01

    def test_outside_program(self) -> None:
        assert option_tick(2.99, penny_pilot=False) == 0.05
        assert option_tick(3.00, penny_pilot=False) == 0.10


class TestBsmPutDelta:
    def test_atm_is_about_minus_half(self) -> None:
        # ATM, r = q = 0: d1 = σ√T/2 → Δ = −N(−0.1) for σ = 0.2, T = 1
        assert bsm_put_delta(100, 100, 1.0, 0.2, rate=0.0) == pytest.approx(-0.460172, abs=1e-6)

    def test_hull_example(self) -> None:
        # Hull ex. 15.6 / 19.1 style: S=42, K=40, r=10 %, σ=20 %, T=0.5 → call Δ = N(d1) = 0.7791
        assert bsm_put_delta(42, 40, 0.5, 0.2, rate=0.10) == pytest.approx(0.7791 - 1, abs=1e-4)

    def test_range_and_monotone_in_strike(self) -> None:
        deltas = [bsm_put_delta(680, k, 35 / 365, 0.16) for k in range(600, 760, 5)]
        assert all(-1.0 <= d <= 0.0 for d in deltas)
        assert deltas == sorted(deltas, reverse=True)  # higher strike → more negative

    def test_expiry_limits(self) -> None:
        assert bsm_put_delta(100, 110, 0.0, 0.2) == -1.0
        assert bsm_put_delta(100, 90, 0.0, 0.2) == 0.0
        assert bsm_put_delta(100, 100, 0.5, 0.0) == -0.5

    def test_bad_spot(self) -> None:
        with pytest.raises(ValueError, match="spot"):
            bsm_put_delta(0, 100, 0.1, 0.2)
