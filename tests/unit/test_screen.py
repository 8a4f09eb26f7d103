"""CSP screening rules, score and ranking (scanner.screen, scanner.preselect), checkable by hand."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import date, timedelta

import pytest

from scanner.preselect import expiries_in_window, strikes_to_check
from scanner.screen import OptionQuote, Screened, liquidity_factor, rank_candidates, screen_put
from shared.optionmath import annualized_return
from shared.strategy import PutRules
from shared.trade import Right

TODAY = date(2026, 11, 20)
RULES = (
    PutRules()
)  # delta 0.15–0.30 (0.25), DTE 21–45 (35), credit ≥ 0.10, ann ≥ 12 %, OI ≥ 100, spread ≤ 10 %


def ymd(days: int) -> str:
    return (TODAY + timedelta(days=days)).strftime("%Y%m%d")


def quote(**kw: object) -> OptionQuote:
    """A put that passes the default rules: $100 strike, 35 DTE, 1.45/1.55, Δ −0.25, OI 1500."""
    base = OptionQuote(
        symbol="KO",
        con_id=1,
        local_symbol="KO    261225P00100000",
        right=Right.PUT,
        expiry=ymd(35),
        strike=100.0,
        multiplier=100,
        underlying_price=105.0,
        bid=1.45,
        ask=1.55,
        delta=-0.25,
        iv=0.22,
        open_interest=1500,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


class TestScreenPutPassing:
    def test_numbers_by_hand(self) -> None:
        s = screen_put(quote(), RULES, TODAY)
        assert s.passed and s.reasons == ()
        assert s.dte == 35
        assert s.mid == 1.50 and s.credit == 1.50
        assert s.spread_pct == pytest.approx(0.10 / 1.50)
        assert s.collateral == 10_000.0
        assert s.annualized_return == pytest.approx(1.5 / 100 * 365 / 35)  # 15.64 %
        assert s.prob_otm == pytest.approx(0.75)
        # spread part 1 − 0.5 × 0.0667/0.10 = 0.6667; OI part min(1, log10(1500)/3) = 1
        assert s.liquidity_factor == pytest.approx(1 - 0.5 * (0.1 / 1.5) / 0.10)
        assert s.annualized_return is not None
        assert s.score == pytest.approx(s.annualized_return * 0.75 * s.liquidity_factor)

    def test_spy_like_600_strike(self) -> None:
        rules = PutRules(min_annualized_return=0.05)
        s = screen_put(quote(symbol="SPY", strike=600.0, bid=2.98, ask=3.02, expiry=ymd(30)), rules, TODAY)
        assert s.annualized_return == pytest.approx(0.0608333, rel=1e-6)
        assert s.collateral == 60_000.0
        assert s.passed


class TestEachRuleBoundary:
    @pytest.mark.parametrize("delta", [-0.15, -0.30, -0.25])
    def test_delta_inclusive(self, delta: float) -> None:
        assert screen_put(quote(delta=delta), RULES, TODAY).passed

    @pytest.mark.parametrize(
        ("delta", "reason"),
        [
            (-0.1499, "delta 0.1499 < min 0.15"),
            (-0.3001, "delta 0.3001 > max 0.30"),
            (-0.41, "delta 0.41 > max 0.30"),
        ],
    )
    def test_delta_rejects(self, delta: float, reason: str) -> None:
        s = screen_put(quote(delta=delta), RULES, TODAY)
        assert not s.passed and s.reasons == (reason,)

    def test_positive_put_delta_is_bad_data(self) -> None:
        s = screen_put(quote(delta=0.25), RULES, TODAY)
        assert not s.passed and "positive" in s.reasons[0]

    def test_delta_out_of_range(self) -> None:
        s = screen_put(quote(delta=-1.5), RULES, TODAY)
        assert not s.passed and s.reasons == ("delta -1.50 is outside [-1, 0]",)
        assert s.prob_otm is None and s.score == 0.0

    @pytest.mark.parametrize("days", [21, 45])
    def test_dte_inclusive(self, days: int) -> None:
        # keep the annualized return above 12 % at 45 days: 1.5/100 × 365/45 = 12.17 %
        assert screen_put(quote(expiry=ymd(days)), RULES, TODAY).passed

    @pytest.mark.parametrize(("days", "reason"), [(20, "dte 20 < min 21"), (46, "dte 46 > max 45")])
    def test_dte_rejects(self, days: int, reason: str) -> None:
        # mid 2.00 keeps the annualized return above 12 % at 46 days (15.87 %)
        s = screen_put(quote(expiry=ymd(days), bid=1.95, ask=2.05), RULES, TODAY)
        assert s.reasons == (reason,)

    def test_min_credit(self) -> None:
        rules = PutRules(min_annualized_return=0.0)
        assert screen_put(quote(bid=0.10, ask=0.10), rules, TODAY).passed
        s = screen_put(quote(bid=0.09, ask=0.09), rules, TODAY)
        assert s.reasons == ("credit 0.09 < min 0.10",)

    def test_min_annualized_return_inclusive(self) -> None:
        # 73 days = 365/5: $2.40 on $100 → 2.4 % × 5 = 12.00 % exactly
        rules = PutRules(dte_max=90)
        ok = screen_put(quote(bid=2.40, ask=2.40, expiry=ymd(73)), rules, TODAY)
        assert ok.annualized_return == pytest.approx(0.12)
        assert ok.passed
        bad = screen_put(quote(bid=2.39, ask=2.39, expiry=ymd(73)), rules, TODAY)
        assert bad.reasons == ("annualized return 11.95% < min 12.00%",)

    def test_open_interest_inclusive(self) -> None:
        assert screen_put(quote(open_interest=100), RULES, TODAY).passed
        s = screen_put(quote(open_interest=99), RULES, TODAY)
        assert s.reasons == ("open interest 99 < min 100",)

    def test_spread_inclusive(self) -> None:
        s = screen_put(quote(strike=50.0, bid=0.95, ask=1.05), RULES, TODAY)
        assert s.spread_pct == 0.10
        assert s.passed
        bad = screen_put(quote(strike=50.0, bid=0.94, ask=1.05), RULES, TODAY)  # 0.11 / 0.995
        assert bad.reasons == ("spread 11.06% of mid > max 10.00%",)


class TestMissingData:
    def test_each_missing_field_named(self) -> None:
        assert screen_put(quote(bid=None), RULES, TODAY).reasons == ("no bid",)
        assert screen_put(quote(ask=math.nan), RULES, TODAY).reasons == ("no ask",)
        assert screen_put(quote(bid=-1.0), RULES, TODAY).reasons == ("no bid",)  # IB's "no quote"
        assert screen_put(quote(delta=None), RULES, TODAY).reasons == ("no delta",)
        assert screen_put(quote(delta=math.nan), RULES, TODAY).reasons == ("no delta",)
        assert screen_put(quote(open_interest=None), RULES, TODAY).reasons == ("no open interest",)

    def test_everything_missing(self) -> None:
        s = screen_put(quote(bid=None, ask=None, delta=None, open_interest=None), RULES, TODAY)
        assert s.reasons == ("no bid", "no ask", "no delta", "no open interest")
        assert s.mid is None and s.credit is None and s.annualized_return is None
        assert s.liquidity_factor == 0.0 and s.score == 0.0 and not s.passed

    def test_crossed_quote(self) -> None:
        s = screen_put(quote(bid=1.60, ask=1.50), RULES, TODAY)
        assert s.reasons == ("crossed quote (bid 1.60 > ask 1.50)",)
        assert s.mid is None

    def test_bad_expiry_raises(self) -> None:
        with pytest.raises(ValueError, match="2026-12-25"):
            screen_put(quote(expiry="2026-12-25"), RULES, TODAY)

    def test_a_call_given_to_the_put_screen_is_a_bug(self) -> None:
        with pytest.raises(ValueError, match="right"):
            screen_put(quote(right=Right.CALL), RULES, TODAY)


class TestAllReasonsListed:
    def test_does_not_stop_at_first(self) -> None:
        s = screen_put(quote(delta=-0.41, expiry=ymd(50), open_interest=50, bid=0.02, ask=0.06), RULES, TODAY)
        assert s.reasons == (
            "delta 0.41 > max 0.30",
            "dte 50 > max 45",
            "credit 0.04 < min 0.10",
            "annualized return 0.29% < min 12.00%",
            "open interest 50 < min 100",
            "spread 100.00% of mid > max 10.00%",
        )
        # parts are still computed for display; a 100 % spread zeroes the liquidity factor
        assert s.annualized_return == pytest.approx(0.04 / 100 * 365 / 50)
        assert s.prob_otm == pytest.approx(0.59)
        assert s.liquidity_factor == 0.0 and s.score == 0.0


class TestLiquidityAndScore:
    def test_liquidity_factor_values(self) -> None:
        assert liquidity_factor(0.0, 1000, RULES) == 1.0
        assert liquidity_factor(0.0, 50_000, RULES) == 1.0
        assert liquidity_factor(0.10, 100, RULES) == pytest.approx(0.5 * 2 / 3)
        assert liquidity_factor(0.05, 1000, RULES) == pytest.approx(0.75)
        assert liquidity_factor(0.30, 1000, RULES) == 0.0
        assert liquidity_factor(0.0, 0, RULES) == 0.0
        assert liquidity_factor(None, 1000, RULES) == 0.0
        assert liquidity_factor(0.05, None, RULES) == 0.0

    def test_liquidity_monotone_grid(self) -> None:
        spreads = [i / 200 for i in range(0, 61)]  # 0 … 30 %
        ois = [0, 1, 2, 5, 10, 50, 99, 100, 101, 500, 999, 1000, 1001, 10_000]
        for oi in ois:
            values = [liquidity_factor(s, oi, RULES) for s in spreads]
            assert all(a >= b for a, b in zip(values, values[1:], strict=False))
            assert all(0.0 <= v <= 1.0 for v in values)
        for sp in spreads:
            values = [liquidity_factor(sp, oi, RULES) for oi in ois]
            assert all(a <= b for a, b in zip(values, values[1:], strict=False))

    def test_score_monotone_in_spread_and_oi_random(self) -> None:
        # Property-style check (hypothesis is not installed): with the mid held fixed, a tighter spread
        # or more open interest never lowers the score.
        rng = random.Random(20261120)
        for _ in range(500):
            m = rng.randint(20, 1000) / 100
            half1, half2 = sorted(rng.randint(0, int(m * 50)) / 100 for _ in range(2))
            oi1, oi2 = sorted(rng.randint(0, 20_000) for _ in range(2))
            delta = -rng.randint(10, 40) / 100

            def score(half: float, oi: int, m: float = m, delta: float = delta) -> float:
                q = quote(bid=round(m - half, 2), ask=round(m + half, 2), open_interest=oi, delta=delta)
                return screen_put(q, RULES, TODAY).score

            assert score(half1, oi1) >= score(half2, oi1) - 1e-12
            assert score(half1, oi2) >= score(half1, oi1) - 1e-12


def scr(
    symbol: str, con_id: int, *, bid: float, delta: float = -0.25, days: int = 35, strike: float = 100.0
) -> Screened:
    return screen_put(
        quote(
            symbol=symbol,
            con_id=con_id,
            bid=bid,
            ask=round(bid + 0.05, 2),
            delta=delta,
            expiry=ymd(days),
            strike=strike,
        ),
        RULES,
        TODAY,
    )


def rank_puts(
    items: list[Screened], rules: PutRules, *, cap_by_symbol: dict[str, int] | None = None
) -> list[Screened]:
    """Rank puts all screened with ``rules``; ``cap_by_symbol`` replaces the cap of some symbols."""
    caps = cap_by_symbol or {}

    def rules_of(s: Screened) -> PutRules:
        cap = caps.get(s.quote.symbol)
        return rules if cap is None else rules.model_copy(update={"max_candidates_per_symbol": cap})

    return rank_candidates(items, rules_of)


class TestRank:
    def test_order_cap_and_failed_excluded(self) -> None:
        items = [
            scr("KO", 1, bid=1.40),
            scr("KO", 2, bid=1.80),
            scr("KO", 3, bid=1.60),
            scr("KO", 4, bid=2.00),
            scr("KO", 5, bid=2.50, delta=-0.45),  # fails: delta
            scr("AAPL", 6, bid=1.50),
        ]
        assert not items[4].passed
        ranked = rank_puts(items, RULES)
        assert [s.quote.con_id for s in ranked] == [4, 2, 3, 6]  # KO capped at 3; con 1 dropped
        assert all(s.passed for s in ranked)
        assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)

    def test_cap_by_symbol(self) -> None:
        items = [scr("KO", i, bid=1.40 + i / 10) for i in range(5)]
        assert len(rank_puts(items, RULES, cap_by_symbol={"KO": 1})) == 1
        assert len(rank_puts(items, PutRules(max_candidates_per_symbol=5))) == 5

    def test_ties_broken_by_delta_target_then_deterministic(self) -> None:
        a = scr("KO", 10, bid=1.50, delta=-0.25)
        b = scr("KO", 11, bid=1.50, delta=-0.25)
        c = replace(scr("KO", 12, bid=1.50, delta=-0.20), score=a.score)  # same score, farther from 0.25
        orders = [[a, b, c], [c, b, a], [b, c, a]]
        results = [[s.quote.con_id for s in rank_puts(o, RULES)] for o in orders]
        assert results[0] == results[1] == results[2] == [10, 11, 12]

    def test_empty(self) -> None:
        assert rank_puts([], RULES) == []


class TestExpiriesInWindow:
    def test_window_and_order(self) -> None:
        exps = [ymd(d) for d in (7, 14, 21, 28, 35, 42, 45, 46, 49, 63)] + [ymd(35)]
        got = expiries_in_window(exps, TODAY, RULES)
        # |DTE − 35|: 35→0, 28→7, 42→7 (shorter first), 45→10, 21→14; 35 listed twice → once
        assert got == [ymd(35), ymd(28), ymd(42), ymd(45), ymd(21)]

    def test_tie_prefers_shorter(self) -> None:
        assert expiries_in_window([ymd(40), ymd(30)], TODAY, RULES) == [ymd(30), ymd(40)]

    def test_bad_expiry(self) -> None:
        with pytest.raises(ValueError, match="2026/12/25"):
            expiries_in_window(["2026/12/25"], TODAY, RULES)


class TestStrikesToCheck:
    def test_spy_like(self) -> None:
        strikes = [float(k) for k in range(500, 800)]
        got = strikes_to_check(strikes, spot=680.0, iv_guess=0.16, dte=35, rules=RULES)
        assert len(got) == 12
        assert all(650 <= k <= 667 for k in got)
        assert got[0] == 661.0  # BSM |Δ| ≈ 0.250 at 661
        assert all(k < 680 for k in got)

    def test_five_dollar_strikes_cover_the_band(self) -> None:
        strikes = [float(k) for k in range(500, 800, 5)]
        got = strikes_to_check(strikes, 680.0, 0.16, 35, RULES)
        assert got[0] == 660.0
        # |Δ| band 0.10–0.35 at 16 % IV, 35 DTE ≈ strikes 642–670 (670 → |Δ| 0.344, 675 → 0.40)
        assert sorted(got) == [645.0, 650.0, 655.0, 660.0, 665.0, 670.0]

    def test_never_above_spot_even_with_huge_margin(self) -> None:
        strikes = [float(k) for k in range(600, 760)]
        got = strikes_to_check(strikes, 680.0, 0.16, 35, RULES, limit=500, margin=1.0)
        assert got and max(got) < 680.0

    def test_limit_and_validation(self) -> None:
        strikes = [float(k) for k in range(500, 800)]
        assert strikes_to_check(strikes, 680.0, 0.16, 35, RULES, limit=0) == []
        assert len(strikes_to_check(strikes, 680.0, 0.16, 35, RULES, limit=3)) == 3
        with pytest.raises(ValueError, match="iv_guess"):
            strikes_to_check(strikes, 680.0, 0.0, 35, RULES)
        with pytest.raises(ValueError, match="spot"):
            strikes_to_check(strikes, math.nan, 0.16, 35, RULES)

    def test_consistent_with_annualized_helper(self) -> None:
        assert annualized_return(3.0, 600.0, 30) == pytest.approx(0.0608333, rel=1e-6)
