"""Covered-call screening (scanner.screen.screen_call), call strike pre-selection (scanner.preselect),
the BSM call delta (shared.optionmath) and one ranking across puts and calls — numbers checkable by hand."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta

import pytest

from scanner.preselect import strikes_to_check
from scanner.screen import OptionQuote, Screened, rank_candidates, screen_call, screen_put
from shared.optionmath import bsm_call_delta, bsm_put_delta
from shared.strategy import CallRules, EntryRules, PutRules
from shared.trade import Right

TODAY = date(2026, 11, 20)
RULES = CallRules()  # Δ 0.20–0.35 (0.30), DTE 21–45 (35), credit ≥ 0.10, ann ≥ 5 %, OI ≥ 100, spread ≤ 10 %
BASIS = 49.12  # adjusted cost basis, $/share


def ymd(days: int) -> str:
    return (TODAY + timedelta(days=days)).strftime("%Y%m%d")


def call(**kw: object) -> OptionQuote:
    """A call that passes the default rules on shares with cost basis 49.12: $52 strike, spot 50,
    35 DTE, 0.48/0.52, Δ 0.30, OI 1500."""
    base = OptionQuote(
        symbol="KO",
        con_id=7,
        local_symbol="KO    261225C00052000",
        right=Right.CALL,
        expiry=ymd(35),
        strike=52.0,
        multiplier=100,
        underlying_price=50.0,
        bid=0.48,
        ask=0.52,
        delta=0.30,
        iv=0.20,
        open_interest=1500,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def screen(q: OptionQuote | None = None, rules: CallRules = RULES, basis: float = BASIS) -> Screened:
    return screen_call(q or call(), rules, TODAY, basis)


class TestPassing:
    def test_numbers_by_hand(self) -> None:
        s = screen()
        assert s.passed and s.reasons == ()
        assert s.dte == 35 and s.mid == 0.50 and s.credit == 0.50
        assert s.spread_pct == pytest.approx(0.04 / 0.50)
        # the return is on the shares' value (underlying price), not on the strike or the cost basis
        assert s.annualized_return == pytest.approx(0.50 / 50.0 * 365 / 35)  # 10.43 %
        assert s.collateral == pytest.approx(4912.0)  # cost basis × 100, dollars per contract
        assert s.cost_basis == BASIS
        assert s.prob_otm == pytest.approx(0.70)
        assert s.liquidity_factor == pytest.approx(1 - 0.5 * 0.08 / 0.10)  # OI part 1 at 1500
        assert s.score == pytest.approx(0.50 / 50.0 * 365 / 35 * 0.70 * 0.6)

    def test_defaults(self) -> None:
        assert (RULES.delta_min, RULES.delta_max, RULES.delta_target) == (0.20, 0.35, 0.30)
        assert RULES.min_annualized_return == 0.05 and RULES.strike_at_or_above_cost_basis


class TestDeltaBand:
    @pytest.mark.parametrize("delta", [0.20, 0.35, 0.30])
    def test_inclusive(self, delta: float) -> None:
        assert screen(call(delta=delta)).passed

    @pytest.mark.parametrize(
        ("delta", "reason"),
        [
            (0.1999, "delta 0.1999 < min 0.20"),
            (0.3501, "delta 0.3501 > max 0.35"),
            (0.0, "delta 0.00 < min 0.20"),
        ],
    )
    def test_rejects(self, delta: float, reason: str) -> None:
        s = screen(call(delta=delta))
        assert not s.passed and s.reasons == (reason,)

    def test_float_noise_at_the_bound_passes(self) -> None:
        assert screen(call(delta=0.35 + 1e-12)).passed


class TestCostBasisRule:
    def test_strike_below_basis_fails_with_both_numbers(self) -> None:
        s = screen(call(strike=48.0))
        assert not s.passed and s.reasons == ("strike 48 < adjusted cost basis 49.12",)

    def test_strike_equal_to_basis_passes(self) -> None:
        assert screen(call(strike=52.0), basis=52.0).passed
        assert screen(call(strike=52.0), basis=52.0 + 1e-12).passed  # float noise never flips the bound

    def test_a_cent_above_the_strike_fails(self) -> None:
        assert screen(call(strike=52.0), basis=52.01).reasons == ("strike 52 < adjusted cost basis 52.01",)
        assert screen(call(strike=47.5)).reasons == ("strike 47.5 < adjusted cost basis 49.12",)

    def test_rule_off_allows_a_strike_below_basis(self) -> None:
        s = screen(call(strike=48.0), rules=CallRules(strike_at_or_above_cost_basis=False))
        assert s.passed and s.collateral == pytest.approx(4912.0) and s.cost_basis == BASIS

    @pytest.mark.parametrize("basis", [0.0, -1.0, math.nan])
    def test_unusable_basis_is_named(self, basis: float) -> None:
        s = screen(basis=basis)
        assert s.reasons == (f"adjusted cost basis {basis!r} is not a positive price",)
        assert s.collateral == 0.0 and s.cost_basis is None


class TestOtherRules:
    @pytest.mark.parametrize("days", [21, 45])
    def test_dte_inclusive(self, days: int) -> None:
        assert screen(call(expiry=ymd(days))).passed

    @pytest.mark.parametrize(("days", "reason"), [(20, "dte 20 < min 21"), (46, "dte 46 > max 45")])
    def test_dte_rejects(self, days: int, reason: str) -> None:
        assert screen(call(expiry=ymd(days))).reasons == (reason,)

    def test_min_credit_inclusive(self) -> None:
        rules = CallRules(min_annualized_return=0.0)
        assert screen(call(bid=0.10, ask=0.10), rules).passed
        assert screen(call(bid=0.09, ask=0.09), rules).reasons == ("credit 0.09 < min 0.10",)

    def test_min_annualized_return_inclusive(self) -> None:
        # 73 days = 365/5: $0.50 on a $50 underlying → 1 % × 5 = 5.00 % exactly (strike and basis irrelevant)
        rules = CallRules(dte_max=90)
        ok = screen(call(bid=0.50, ask=0.50, expiry=ymd(73)), rules)
        assert ok.annualized_return == pytest.approx(0.05) and ok.passed
        bad = screen(call(bid=0.49, ask=0.49, expiry=ymd(73)), rules)
        assert bad.reasons == ("annualized return 4.90% < min 5.00%",)

    def test_open_interest_and_spread(self) -> None:
        assert screen(call(open_interest=100)).passed
        assert screen(call(open_interest=99)).reasons == ("open interest 99 < min 100",)
        assert screen(call(bid=0.95, ask=1.05)).passed  # spread exactly 10 %
        assert screen(call(bid=0.94, ask=1.05)).reasons == ("spread 11.06% of mid > max 10.00%",)


class TestBadData:
    def test_negative_call_delta_is_bad_data(self) -> None:
        s = screen(call(delta=-0.30))
        assert s.reasons == ("delta -0.30 is negative; a call's delta is positive",)
        assert s.prob_otm is None and s.score == 0.0

    def test_delta_out_of_range(self) -> None:
        assert screen(call(delta=1.5)).reasons == ("delta 1.50 is outside [0, 1]",)

    def test_each_missing_field_named(self) -> None:
        assert screen(call(bid=None)).reasons == ("no bid",)
        assert screen(call(ask=-1.0)).reasons == ("no ask",)
        assert screen(call(delta=math.nan)).reasons == ("no delta",)
        assert screen(call(open_interest=None)).reasons == ("no open interest",)
        assert screen(call(bid=0.60, ask=0.50)).reasons == ("crossed quote (bid 0.60 > ask 0.50)",)

    def test_no_underlying_price(self) -> None:
        s = screen(call(underlying_price=math.nan))
        assert s.reasons == ("no underlying price",)
        assert s.annualized_return is None and s.score == 0.0

    def test_every_failed_rule_listed(self) -> None:
        q = call(strike=48.0, delta=0.45, expiry=ymd(50), bid=0.02, ask=0.06, open_interest=5)
        assert screen(q).reasons == (
            "strike 48 < adjusted cost basis 49.12",
            "delta 0.45 > max 0.35",
            "dte 50 > max 45",
            "credit 0.04 < min 0.10",
            "annualized return 0.58% < min 5.00%",
            "open interest 5 < min 100",
            "spread 100.00% of mid > max 10.00%",
        )

    def test_wrong_right_is_a_bug(self) -> None:
        with pytest.raises(ValueError, match="right"):
            screen(call(right=Right.PUT))
        with pytest.raises(ValueError, match="2026-12-25"):
            screen(call(expiry="2026-12-25"))


class TestCallDelta:
    def test_hand_value_and_parity(self) -> None:
        # S = K = 100, T = 1, σ = 0.2, r = 0.04: d1 = (0.04 + 0.02) / 0.2 = 0.3, N(0.3) = 0.61791
        assert bsm_call_delta(100, 100, 1.0, 0.2) == pytest.approx(0.617911, abs=1e-6)
        for k in (80.0, 95.0, 100.0, 110.0, 130.0):
            assert bsm_call_delta(100, k, 0.1, 0.25) == pytest.approx(bsm_put_delta(100, k, 0.1, 0.25) + 1)
        q, t = 0.03, 0.5  # with a dividend yield: Δc − Δp = e^(−qT)
        diff = bsm_call_delta(100, 105, t, 0.2, q=q) - bsm_put_delta(100, 105, t, 0.2, q=q)
        assert diff == pytest.approx(math.exp(-q * t))

    def test_limits_at_expiry_and_validation(self) -> None:
        assert bsm_call_delta(100, 90, 0.0, 0.2) == 1.0
        assert bsm_call_delta(100, 110, 0.0, 0.2) == 0.0
        assert bsm_call_delta(100, 100, 0.1, 0.0) == 0.5
        with pytest.raises(ValueError, match="strike"):
            bsm_call_delta(100, 0.0, 0.1, 0.2)


class TestCallStrikes:
    STRIKES = [k / 2 for k in range(80, 121)]  # 40.0 … 60.0 by 0.5

    def test_otm_band_nearest_target_first(self) -> None:
        # BSM call Δ at spot 50, 20 %, 35 d: 51 → 0.41, 51.5 → 0.350, 52 → 0.295, 52.5 → 0.244,
        # 53 → 0.198, 53.5 → 0.159, 54 → 0.125; band 0.15–0.40 (0.20–0.35 ± 0.05)
        got = strikes_to_check(self.STRIKES, 50.0, 0.20, 35, RULES, right=Right.CALL)
        assert got == [52.0, 51.5, 52.5, 53.0, 53.5]

    def test_min_strike_drops_strikes_below_the_cost_basis(self) -> None:
        got = strikes_to_check(self.STRIKES, 50.0, 0.20, 35, RULES, right=Right.CALL, min_strike=52.1)
        assert got == [52.5, 53.0, 53.5]
        assert 52.0 in strikes_to_check(
            self.STRIKES, 50.0, 0.20, 35, RULES, right=Right.CALL, min_strike=52.0
        )

    def test_never_at_or_below_spot(self) -> None:
        got = strikes_to_check(self.STRIKES, 50.0, 0.20, 35, RULES, limit=500, right=Right.CALL, margin=1.0)
        assert got and min(got) > 50.0
        assert all(k > 50.0 for k in strikes_to_check([50.0, 50.5], 50.0, 0.2, 35, RULES, right=Right.CALL))


def scr_put(symbol: str, con_id: int, bid: float) -> Screened:
    q = OptionQuote(
        symbol,
        con_id,
        f"{symbol} P",
        Right.PUT,
        ymd(35),
        100.0,
        100,
        105.0,
        bid,
        bid + 0.05,
        -0.25,
        0.2,
        1500,
    )
    return screen_put(q, PutRules(), TODAY)


class TestOneRankingAcrossPutsAndCalls:
    def test_mixed_scan_capped_per_symbol_and_right(self) -> None:
        calls = [screen(call(con_id=10 + i, bid=0.48 + i / 100, ask=0.52 + i / 100)) for i in range(5)]
        puts = [scr_put("SPY", 20 + i, 1.40 + i / 10) for i in range(4)]
        rules: dict[Right, EntryRules] = {Right.CALL: RULES, Right.PUT: PutRules()}
        ranked = rank_candidates([*calls, *puts], lambda s: rules[s.quote.right])
        by_right = {r: [s for s in ranked if s.quote.right is r] for r in Right}
        assert len(by_right[Right.CALL]) == 3 and len(by_right[Right.PUT]) == 3
        assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)
        assert [s.quote.con_id for s in by_right[Right.CALL]] == [14, 13, 12]  # the richest calls

    def test_deterministic_for_any_order(self) -> None:
        items = [screen(call(con_id=i)) for i in (3, 1, 2)] + [scr_put("KO", 9, 1.5)]
        rules: dict[Right, EntryRules] = {
            Right.CALL: CallRules(max_candidates_per_symbol=5),
            Right.PUT: PutRules(),
        }
        first = [s.quote.con_id for s in rank_candidates(items, lambda s: rules[s.quote.right])]
        again = [s.quote.con_id for s in rank_candidates(items[::-1], lambda s: rules[s.quote.right])]
        assert first == again == [9, 1, 2, 3]  # the richer put first; equal calls: lower con_id first
