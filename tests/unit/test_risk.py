"""The risk gate (shared/risk.py) at its edges: every limit exactly at its value (allowed) and just over it
(refused, with the number in the reason); pending collateral counted; closes and rolls allowed under the halt
switch and the daily-loss halt but not outside regular hours; the NYSE calendar's weekends, nights and early
closes; the restart window; the quote's age. Plus the pending collateral read from the database
(shared/riskdata.py), the roll's opening limit (executor/pricing.py) and its shape (executor/guards.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert

from executor.guards import roll_shape_reason
from executor.ladder import LegQuote
from executor.pricing import combo_limit
from shared.db import make_engine, utcnow_iso
from shared.marketcal import Session, XnysSessions
from shared.migrate import upgrade
from shared.risk import (
    AccountFigures,
    Proposal,
    RiskCheck,
    RiskSnapshot,
    SymbolExposure,
    check,
    first_refusal,
)
from shared.riskdata import load_snapshot
from shared.schema import intents, orders
from shared.strategy import RiskRules
from shared.trade import Action, Intent, IntentKind, IntentStatus, Leg, Right

ET = ZoneInfo("America/New_York")
RULES = RiskRules()  # 20 % per symbol, 60 % puts, 10 % cash, 25 % cushion, 60 s quotes
NLV = 100_000.0
#: Wednesday 2026-12-09 11:00 ET: a regular session (09:30–16:00 ET).
NOON = datetime(2026, 12, 9, 11, 0, tzinfo=ET)
SESSION = Session(datetime(2026, 12, 9, 9, 30, tzinfo=ET), datetime(2026, 12, 9, 16, 0, tzinfo=ET))


def account(
    nlv: float = NLV,
    cash: float | None = NLV,
    available: float | None = NLV,
    excess: float | None = NLV,
    age: float | None = 10.0,
) -> AccountFigures:
    return AccountFigures(nlv, cash, available, excess, age)


def snap(**kw: object) -> RiskSnapshot:
    values: dict[str, object] = {
        "account": account(),
        "exposure": {},
        "now": NOON,
        "session": SESSION,
    }
    values.update(kw)
    return RiskSnapshot(**values)  # type: ignore[arg-type]


def put(strike: float, contracts: int = 1, symbol: str = "KO") -> Proposal:
    return Proposal(IntentKind.SELL_PUT, symbol, contracts, strike, Right.PUT)


def checks(p: Proposal, s: RiskSnapshot, rules: RiskRules = RULES) -> list[RiskCheck]:
    return [r.check for r in check(p, s, rules)]


def refusal(p: Proposal, s: RiskSnapshot, which: RiskCheck, rules: RiskRules = RULES) -> str:
    found = [r for r in check(p, s, rules) if r.check is which]
    assert found, f"{which} not refused: {check(p, s, rules)}"
    return found[0].reason


CLOSE = Proposal(IntentKind.BUY_TO_CLOSE, "KO", 1, 60.0, Right.PUT)
ROLL = Proposal(IntentKind.ROLL, "KO", 1, 60.0, Right.PUT)
CALL = Proposal(IntentKind.SELL_CALL, "KO", 1, 70.0, Right.CALL)


# -- the account limits of a cash-secured put --------------------------------------------------------------
def test_a_modest_put_passes_every_check() -> None:
    assert check(put(60.0), snap(), RULES) == []
    assert first_refusal(put(60.0), snap(), RULES) is None


def test_symbol_limit_at_and_just_over_twenty_percent() -> None:
    assert checks(put(200.0), snap()) == []  # 200 × 100 = 20,000 = 20 % of 100,000
    reason = refusal(put(200.01), snap(), RiskCheck.SYMBOL_LIMIT)
    assert "$20,001" in reason and "max_symbol_fraction 20.0 %" in reason and "$20,000" in reason


def test_symbol_limit_counts_shares_held_puts_held_and_pending() -> None:
    held = {"KO": SymbolExposure(csp_collateral=6_000.0, pending_collateral=6_000.0, share_value=2_000.0)}
    assert checks(put(60.0), snap(exposure=held)) == []  # 14,000 + 6,000 = 20,000
    reason = refusal(put(60.01), snap(exposure=held), RiskCheck.SYMBOL_LIMIT)
    assert "KO would tie up $20,001" in reason
    other = {"PEP": SymbolExposure(csp_collateral=19_000.0)}  # another symbol does not count
    assert RiskCheck.SYMBOL_LIMIT not in checks(put(60.0), snap(exposure=other))


def test_total_put_collateral_at_and_just_over_sixty_percent() -> None:
    rules = RiskRules(max_symbol_fraction=1.0, min_cash_reserve_fraction=0.0)
    held = {"PEP": SymbolExposure(csp_collateral=30_000.0), "KO": SymbolExposure(pending_collateral=10_000.0)}
    s = snap(exposure=held)
    assert checks(put(200.0, symbol="XOM"), s, rules) == []  # 40,000 + 20,000 = 60 %
    reason = refusal(put(200.01, symbol="XOM"), s, RiskCheck.CSP_COLLATERAL, rules)
    assert "all put collateral would be $60,001 (60.0 % of net liquidation $100,000)" in reason


def test_cash_reserve_at_and_just_under_ten_percent() -> None:
    rules = RiskRules(max_symbol_fraction=1.0, max_csp_collateral_fraction=1.0)
    s = snap(account=account(cash=50_000.0), exposure={"PEP": SymbolExposure(csp_collateral=20_000.0)})
    assert checks(put(200.0), s, rules) == []  # 50,000 − 40,000 = 10,000 = 10 %
    reason = refusal(put(200.01), s, RiskCheck.CASH_RESERVE, rules)
    assert "cash $50,000 less all put collateral $40,001 leaves $9,999" in reason
    assert "min_cash_reserve_fraction 10.0 % of net liquidation = $10,000" in reason


def test_buying_power_counts_pending_collateral() -> None:
    rules = RiskRules(max_symbol_fraction=1.0, max_csp_collateral_fraction=1.0, min_cash_reserve_fraction=0)
    pending = {"PEP": SymbolExposure(pending_collateral=4_000.0)}
    s = snap(account=account(available=10_000.0), exposure=pending)
    assert checks(put(60.0), s, rules) == []  # 6,000 ≤ 10,000 − 4,000
    reason = refusal(put(60.01), s, RiskCheck.BUYING_POWER, rules)
    assert "need $6,001 collateral" in reason and "$4,000 committed" in reason and "leave $6,000" in reason


def test_margin_cushion_at_and_just_under_twenty_five_percent() -> None:
    assert checks(put(60.0), snap(account=account(excess=25_000.0))) == []
    reason = refusal(put(60.0), snap(account=account(excess=24_999.0)), RiskCheck.MARGIN_CUSHION)
    assert "margin cushion 25.0 %" in reason and "below min_margin_cushion 25.0 %" in reason
    # a covered call meets the cushion too, but none of the put's collateral checks
    assert checks(CALL, snap(account=account(excess=24_999.0, available=0.0, cash=0.0))) == [
        RiskCheck.MARGIN_CUSHION
    ]


def test_account_figures_missing_or_too_old() -> None:
    no_nlv = snap(account=AccountFigures(None, None, None, None))
    assert checks(put(60.0), no_nlv) == [RiskCheck.ACCOUNT_DATA]
    assert "is the monitor running?" in first_refusal(put(60.0), no_nlv, RULES).reason  # type: ignore[union-attr]
    assert checks(put(60.0), snap(account=account(age=300.0))) == []
    assert "301 s old" in refusal(put(60.0), snap(account=account(age=301.0)), RiskCheck.ACCOUNT_DATA)
    assert checks(CLOSE, no_nlv) == []  # a close needs no account figures


# -- halts: no new positions, closing and rolling allowed --------------------------------------------------
def test_halt_switch_refuses_opening_orders_only() -> None:
    s = snap(halted_by="dashboard 127.0.0.1", halt_reason="FOMC day")
    assert checks(put(60.0), s)[0] is RiskCheck.HALT
    assert checks(CALL, s)[0] is RiskCheck.HALT
    assert "halted by dashboard 127.0.0.1 (FOMC day)" in refusal(put(60.0), s, RiskCheck.HALT)
    assert checks(CLOSE, s) == [] and checks(ROLL, s) == []


def test_daily_loss_halt_refuses_opening_orders_only() -> None:
    s = snap(daily_loss_reason="net liquidation fell 3.2 % today (limit 3.0 %)")
    assert first_refusal(put(60.0), s, RULES) is not None
    assert refusal(put(60.0), s, RiskCheck.DAILY_LOSS) == "net liquidation fell 3.2 % today (limit 3.0 %)"
    assert checks(CLOSE, s) == [] and checks(ROLL, s) == []


def test_a_roll_or_close_has_no_collateral_check() -> None:
    broke = snap(account=account(cash=0.0, available=0.0, excess=0.0))
    assert checks(ROLL, broke) == [] and checks(CLOSE, broke) == []


# -- market hours, restart windows, quote age: every order -------------------------------------------------
def test_outside_regular_hours_refuses_every_order() -> None:
    night = snap(now=datetime(2026, 12, 9, 20, 0, tzinfo=ET), session=None)
    for p in (put(60.0), CLOSE, ROLL):
        assert checks(p, night) == [RiskCheck.MARKET_HOURS]
    reason = refusal(CLOSE, night, RiskCheck.MARKET_HOURS)
    assert "outside regular trading hours" in reason and "2026-12-09 20:00 ET" in reason
    assert checks(CLOSE, replace(night, always_open=True)) == []  # MARKET_HOURS=always (paper)


def test_the_session_bounds_open_inclusive_close_exclusive() -> None:
    assert checks(CLOSE, snap(now=SESSION.open)) == []
    assert checks(CLOSE, snap(now=SESSION.close)) == [RiskCheck.MARKET_HOURS]


def test_calendar_weekend_night_and_early_close() -> None:
    xnys = XnysSessions()
    saturday = datetime(2026, 12, 12, 11, 0, tzinfo=ET)
    assert xnys.session_at(saturday) is None
    assert xnys.session_at(datetime(2026, 12, 9, 9, 29, tzinfo=ET)) is None  # before the open
    # the day after Thanksgiving closes at 13:00 ET
    before = datetime(2026, 11, 27, 12, 59, tzinfo=ET)
    session = xnys.session_at(before)
    assert session is not None and session.close.astimezone(ET).hour == 13
    assert checks(CLOSE, snap(now=before, session=session)) == []
    after = datetime(2026, 11, 27, 13, 0, tzinfo=ET)
    assert xnys.session_at(after) is None
    assert checks(CLOSE, snap(now=after, session=None)) == [RiskCheck.MARKET_HOURS]


def test_restart_window_refuses_every_order() -> None:
    s = snap(restart_window="23:45–00:15 ET", always_open=True)
    assert checks(CLOSE, s) == [RiskCheck.RESTART_WINDOW]
    assert "23:45–00:15 ET" in refusal(ROLL, s, RiskCheck.RESTART_WINDOW)


def test_quote_age_at_and_just_over_the_limit() -> None:
    assert checks(ROLL, snap(quote_age_seconds=60.0)) == []
    assert checks(ROLL, snap(quote_age_seconds=None)) == []  # not known (the dashboard)
    reason = refusal(ROLL, snap(quote_age_seconds=60.5), RiskCheck.STALE_QUOTE)
    assert "more than max_quote_age_seconds 60 s" in reason


def test_refusals_come_most_fundamental_first() -> None:
    s = snap(halted_by="me", session=None, account=account(excess=0.0))
    assert checks(put(60.0), s) == [RiskCheck.HALT, RiskCheck.MARKET_HOURS, RiskCheck.MARGIN_CUSHION]


# -- pending collateral from the database (shared/riskdata.py) ---------------------------------------------
@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'risk.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


def _intent(engine: Engine, key: str, status: str, quantity: int, filled: float | None = None) -> None:
    now = utcnow_iso()
    with engine.begin() as conn:
        conn.execute(
            insert(intents).values(
                key=key, source="dashboard", kind="sell_put", action="SELL", sec_type="OPT", symbol="KO",
                con_id=hash(key) % 10**6, local_symbol=key, expiry="20261218", strike=60.0, right="P",
                quantity=quantity, limit_floor=0.5, status=status, status_reason="", created_at=now,
                updated_at=now,
            )
        )  # fmt: skip
        if filled is not None:
            conn.execute(
                insert(orders).values(
                    intent_key=key, action="SELL", order_type="LMT", quantity=quantity, con_id=1,
                    symbol="KO", local_symbol=key, status="Submitted", filled=filled, created_at=now,
                    updated_at=now,
                )
            )  # fmt: skip


def test_pending_collateral_counts_active_intents_unfilled_part(engine: Engine) -> None:
    _intent(engine, "A", "approved", 1)  # 6,000
    _intent(engine, "B", "working", 3, filled=1.0)  # 2 left: 12,000
    _intent(engine, "C", "proposed", 1)  # waits for a click: not pending
    _intent(engine, "D", "filled", 1)  # a position now (the monitor's positions count it)
    _intent(engine, "SELF", "placing", 1)  # the intent being checked
    with engine.connect() as conn:
        s = load_snapshot(conn, now=NOON, session=SESSION, exclude_key="SELF")
    assert s.exposure["KO"].pending_collateral == pytest.approx(18_000.0)
    assert s.pending_collateral == pytest.approx(18_000.0)
    assert s.halted_by is None and s.daily_loss_reason is None


# -- the roll's opening limit (executor/pricing.py) --------------------------------------------------------
def roll_legs(old: tuple[float, float], new: tuple[float, float]) -> list[LegQuote]:
    return [LegQuote(Action.BUY, 1, *old), LegQuote(Action.SELL, 1, *new)]


def test_roll_limit_is_the_combo_mid_rounded_up_and_never_above_the_floor() -> None:
    legs = roll_legs((1.00, 1.10), (1.50, 1.60))  # net (−0.60, −0.40)
    assert combo_limit(legs, Action.BUY, None) == -0.50
    assert combo_limit(legs, Action.BUY, -0.45) == -0.50  # a credit of 0.50 ≥ the minimum 0.45
    assert combo_limit(legs, Action.BUY, -0.55) == -0.55  # the minimum credit wins: the order rests
    odd = roll_legs((1.00, 1.11), (1.50, 1.60))  # net (−0.60, −0.39), mid −0.495 → −0.49 (concede)
    assert combo_limit(odd, Action.BUY, None) == -0.49
    assert combo_limit(roll_legs((0.0, 0.05), (0.40, 0.45)), Action.BUY, None) == -0.40
    assert combo_limit(roll_legs((1.20, 1.10), (1.50, 1.60)), Action.BUY, None) is None  # crossed
    assert combo_limit(roll_legs((1.00, 1.10), (-1.0, 0.0)), Action.BUY, None) is None  # no ask


# -- a roll's shape (executor/guards.py) --------------------------------------------------------------------
def roll_intent(*legs: Leg) -> Intent:
    now = "2026-12-09T16:00:00+00:00"
    return Intent(
        id=1, key="TW-ROLL", source="monitor", kind=IntentKind.ROLL, action=Action.BUY, sec_type="OPT",
        symbol="KO", con_id=1, local_symbol="OLD", expiry="20261218", strike=60.0, right=Right.PUT,
        quantity=1, limit_floor=-0.05, status=IntentStatus.PLACING, status_reason="", created_at=now,
        updated_at=now, legs=legs,
    )  # fmt: skip


def test_a_roll_needs_its_two_legs() -> None:
    old, new = Leg(1, Action.BUY, 1, "OLD"), Leg(2, Action.SELL, 1, "NEW")
    assert roll_shape_reason(roll_intent(old, new)) is None
    assert "found BUY 1" in (roll_shape_reason(roll_intent(old)) or "")
    assert "found BUY 1, BUY 2" in (
        roll_shape_reason(roll_intent(old, replace(new, action=Action.BUY))) or ""
    )
    assert "conId 1" in (roll_shape_reason(roll_intent(replace(old, con_id=3), new)) or "")
