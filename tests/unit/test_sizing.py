"""Puts too large for the account's per-symbol risk limit are not offered (scanner.sizing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from scanner.screen import OptionQuote, screen_put
from scanner.sizing import mark_unaffordable, room
from shared.risk import SymbolExposure
from shared.strategy import PutRules
from shared.trade import Right

TODAY = date(2026, 11, 20)


def put(symbol: str, strike: float) -> OptionQuote:
    """A put passing the default rules at 35 DTE (credit ≈ 1.5 % of the strike)."""
    return OptionQuote(
        symbol=symbol,
        con_id=int(strike * 10),
        local_symbol=f"{symbol} {strike:g}P",
        right=Right.PUT,
        expiry=(TODAY + timedelta(days=35)).strftime("%Y%m%d"),
        strike=strike,
        multiplier=100,
        underlying_price=strike * 1.05,
        bid=strike * 0.0145,
        ask=strike * 0.0155,
        delta=-0.25,
        iv=0.22,
        open_interest=1500,
    )


def test_a_put_beyond_the_room_fails_with_the_numbers_and_a_note() -> None:
    screened = [
        screen_put(put("SPY", 680.0), PutRules(), TODAY),
        screen_put(put("KO", 70.0), PutRules(), TODAY),
    ]
    assert all(s.passed for s in screened)
    out, notes = mark_unaffordable(screened, 100_000.0, {}, 0.20)
    spy, ko = out
    assert not spy.passed and ko.passed
    assert "collateral $68,000/contract > $20,000" in spy.reasons[-1]
    assert notes == [
        "SPY: 1 passing put(s) too large for the account (from $68,000/contract; "
        "the per-symbol limit leaves $20,000)"
    ]


def test_room_counts_what_the_symbol_already_ties_up_and_the_edge_fits() -> None:
    held = {"KO": SymbolExposure(csp_collateral=7_000.0, pending_collateral=6_000.0)}
    assert room("KO", 100_000.0, held, 0.20) == 7_000.0
    exact = screen_put(put("KO", 70.0), PutRules(), TODAY)  # $7,000: exactly the room left → offered
    over = replace(exact, collateral=7_000.01)
    out, _ = mark_unaffordable([exact, over], 100_000.0, held, 0.20)
    assert [s.passed for s in out] == [True, False]


def test_without_net_liquidation_nothing_is_marked() -> None:
    s = screen_put(put("SPY", 680.0), PutRules(), TODAY)
    out, notes = mark_unaffordable([s], None, {}, 0.20)
    assert out == [s] and notes == []
