"""History entry rules (scanner.historyrules): the earnings boundary, IV rank and IV/HV edges, the
technicals, the per-rule counts, and the shipped earnings file (scanner.earnings)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from scanner.earnings import EARNINGS_FILE, EarningsCalendar, shipped_dates
from scanner.historyrules import (
    SymbolHistory,
    apply_history_rules,
    next_earnings,
    removed_counts,
    removed_text,
    rule_of,
)
from scanner.screen import OptionQuote, screen_put
from shared.schema import earnings_dates, metadata
from shared.strategy import CallRules, PutRules
from shared.trade import Right

TODAY = date(2026, 11, 20)
EARNINGS = date(2026, 12, 31)
RULES = PutRules()  # IV rank ≥ 0.30, IV/HV ≥ 1.05, earnings buffer 14 days; wide DTE below
WIDE = PutRules(dte_min=0, dte_max=120, dte_target=35)
ROOT = Path(__file__).resolve().parents[2]


def put(expiry: date, **kw: object) -> OptionQuote:
    base = OptionQuote(
        symbol="KO",
        con_id=1,
        local_symbol="KO P100",
        right=Right.PUT,
        expiry=expiry.strftime("%Y%m%d"),
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


def hist(**kw: object) -> SymbolHistory:
    base = SymbolHistory("KO", iv=0.30, iv_rank=0.50, hv=0.20, iv_hv_ratio=1.5, next_earnings=EARNINGS)
    return replace(base, **kw)  # type: ignore[arg-type]


def run(expiry: date, rules: PutRules = WIDE, h: SymbolHistory | None = None) -> tuple[bool, tuple[str, ...]]:
    [s], _ = apply_history_rules([screen_put(put(expiry), rules, TODAY)], rules, h or hist())
    return s.passed, s.reasons


class TestEarnings:
    def test_the_day_before_the_buffer_passes(self) -> None:
        ok, reasons = run(EARNINGS - timedelta(days=15))  # 2026-12-16
        assert ok, reasons

    def test_the_buffer_is_removed(self) -> None:
        for days in (14, 7, 1):
            ok, reasons = run(EARNINGS - timedelta(days=days))
            assert not ok
            expiry = (EARNINGS - timedelta(days=days)).isoformat()
            assert reasons == (f"expiry {expiry} within 14 days before earnings 2026-12-31",)

    def test_on_and_after_earnings_removed(self) -> None:
        assert run(EARNINGS) == (False, ("earnings 2026-12-31 on/before expiry 2026-12-31",))
        assert run(EARNINGS + timedelta(days=1)) == (
            False,
            ("earnings 2026-12-31 on/before expiry 2027-01-01",),
        )

    def test_buffer_zero(self) -> None:
        rules = WIDE.model_copy(update={"earnings_buffer_days": 0})
        assert run(EARNINGS - timedelta(days=1), rules)[0]
        assert not run(EARNINGS, rules)[0]

    def test_off(self) -> None:
        rules = WIDE.model_copy(update={"avoid_earnings": False})
        assert run(EARNINGS + timedelta(days=3), rules)[0]

    def test_unknown_date_removes_nothing_and_says_so(self) -> None:
        [s], notes = apply_history_rules(
            [screen_put(put(EARNINGS), WIDE, TODAY)], WIDE, hist(next_earnings=None)
        )
        assert s.passed
        assert notes and "no next earnings date known" in notes[0]

    def test_projected_date_applies_and_says_so(self) -> None:
        h = hist(earnings_source="projected")
        [s], notes = apply_history_rules([screen_put(put(EARNINGS), WIDE, TODAY)], WIDE, h)
        assert not s.passed
        assert notes == ["next earnings 2026-12-31 projected from a year before (not announced)"]

    def test_next_earnings_is_on_or_after_today(self) -> None:
        dates = [date(2026, 10, 29), TODAY, date(2027, 1, 28)]
        assert next_earnings(dates, TODAY) == TODAY
        assert next_earnings(dates[::2], TODAY) == date(2027, 1, 28)
        assert next_earnings(dates[:1], TODAY) is None


class TestIvRules:
    def test_iv_rank_edges(self) -> None:
        far = TODAY + timedelta(days=25)
        assert run(far, RULES, hist(iv_rank=0.30))[0]  # equal to the minimum passes
        assert run(far, RULES, hist(iv_rank=0.30 - 1e-12))[0]  # float noise never flips a boundary
        assert run(far, RULES, hist(iv_rank=0.22)) == (False, ("IV rank 0.22 < 0.30",))
        assert run(far, RULES, hist(iv_rank=0.0))[1] == ("IV rank 0.00 < 0.30",)

    def test_iv_hv_edges(self) -> None:
        far = TODAY + timedelta(days=25)
        assert run(far, RULES, hist(iv_hv_ratio=1.05))[0]
        assert run(far, RULES, hist(iv_hv_ratio=0.98)) == (False, ("IV/HV 0.98 < 1.05",))

    def test_unknown_iv_skips_with_a_note(self) -> None:
        far = TODAY + timedelta(days=25)
        h = hist(iv_rank=None, iv_hv_ratio=None, missing=(("iv_rank", "no OPTION_IMPLIED_VOLATILITY bars"),))
        [s], notes = apply_history_rules([screen_put(put(far), RULES, TODAY)], RULES, h)
        assert s.passed
        assert "IV rank unknown (no OPTION_IMPLIED_VOLATILITY bars): IV rank rule skipped" in notes
        assert any(n.startswith("IV/HV unknown") for n in notes)

    def test_calls_have_them_off(self) -> None:
        rules = CallRules()
        assert rules.min_iv_rank == 0 and rules.min_iv_hv_ratio == 0
        call = put(TODAY + timedelta(days=25), right=Right.CALL, delta=0.3)
        from scanner.screen import screen_call

        [s], notes = apply_history_rules(
            [screen_call(call, rules, TODAY, 90.0)], rules, hist(iv_rank=0.01, iv_hv_ratio=0.5)
        )
        assert s.passed and not [n for n in notes if "IV" in n]


class TestTechnicals:
    def test_sma_and_rsi(self) -> None:
        far = TODAY + timedelta(days=25)
        rules = WIDE.model_copy(update={"require_above_sma200": True, "rsi_filter": True})
        assert run(far, rules, hist(close=101.0, sma200=100.0, rsi14=69.9))[0]
        ok, reasons = run(far, rules, hist(close=100.0, sma200=100.0, rsi14=70.0))
        assert not ok
        assert reasons == ("close 100.00 not above SMA200 100.00", "RSI(14) 70.0 ≥ max 70")

    def test_off_by_default(self) -> None:
        far = TODAY + timedelta(days=25)
        assert run(far, WIDE, hist(close=50.0, sma200=100.0, rsi14=95.0))[0]


class TestCounts:
    def test_removed_counts_each_rule_once_per_contract(self) -> None:
        screened = [
            screen_put(put(EARNINGS), RULES, TODAY),  # dte 41: passes the screen
            screen_put(put(TODAY + timedelta(days=25), delta=-0.05), RULES, TODAY),
            screen_put(put(TODAY + timedelta(days=25)), RULES, TODAY),
        ]
        out, _ = apply_history_rules(screened, RULES, hist(iv_rank=0.10))
        counts = removed_counts(out)
        assert counts == {"earnings": 1, "iv_rank": 3, "delta": 1}
        assert removed_text(counts) == "iv_rank 3, delta 1, earnings 1"

    @pytest.mark.parametrize(
        ("reason", "rule"),
        [
            ("delta 0.14 < min 0.15", "delta"),
            ("no delta", "no_data"),
            ("no open interest", "no_data"),
            ("dte 50 > max 45", "dte"),
            ("open interest 12 < min 100", "open_interest"),
            ("spread 12.00% of mid > max 10.00%", "spread"),
            ("no bid", "quote"),
            ("earnings 2026-12-18 on/before expiry 2026-12-24", "earnings"),
            ("IV/HV 0.98 < 1.05", "iv_hv"),
            ("collateral $50,000/contract > $10,000 the per-symbol limit leaves", "risk_limit"),
            ("something new", "other"),
        ],
    )
    def test_rule_of(self, reason: str, rule: str) -> None:
        assert rule_of(reason) == rule


class TestShippedEarnings:
    def test_copy_of_the_simulator_file(self) -> None:
        # the service never imports simulator/: it ships its own copy, which must not drift
        assert json.loads(EARNINGS_FILE.read_text()) == json.loads(
            (ROOT / "simulator" / "data" / "earnings.json").read_text()
        )

    def test_aapl_dates(self) -> None:
        aapl = dict(shipped_dates()["AAPL"])
        assert aapl[date(2026, 1, 29)] == "file"
        assert date(2026, 4, 30) in aapl

    def test_calendar_caches_and_never_needs_yfinance(self) -> None:
        engine = create_engine("sqlite://")
        metadata.create_all(engine)
        calls: list[str] = []

        def failing(symbol: str) -> list[date]:
            calls.append(symbol)
            raise OSError("no network")

        cal = EarningsCalendar(engine, fetch=failing, timeout=1.0)
        assert asyncio.run(cal.next_date("AAPL", date(2026, 2, 12))) == (date(2026, 4, 30), "file")
        assert asyncio.run(cal.next_date("AAPL", date(2026, 2, 12)))[0] == date(2026, 4, 30)
        assert calls == ["AAPL"]  # asked once a day
        assert asyncio.run(cal.next_date("SPY", date(2026, 2, 12))) == (None, "")

        def answering(symbol: str) -> list[date]:
            return [date(2026, 4, 23)]

        cal2 = EarningsCalendar(engine, fetch=answering)
        assert asyncio.run(cal2.next_date("AAPL", date(2026, 2, 12))) == (date(2026, 4, 23), "yfinance")
        with engine.connect() as conn:
            srcs = set(conn.execute(select(earnings_dates.c.source)).scalars())
        assert srcs >= {"file", "yfinance"}
        off = EarningsCalendar(engine, use_yfinance=False, fetch=failing)
        asyncio.run(off.next_date("MSFT", date(2026, 2, 12)))
        assert calls == ["AAPL", "SPY"]
