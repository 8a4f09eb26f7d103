"""The management rules (:mod:`shared.management`) at their edges, and the pure parts of the monitor's
management and risk loops (:mod:`monitor.manage`, :mod:`monitor.risk`)."""

from __future__ import annotations

import asyncio
import logging
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, update

from monitor.manage import Manager, intent_key, short_options
from monitor.risk import csp_collateral, daily_figures
from shared.management import (
    RollCandidate,
    ShortOption,
    choose_roll,
    close_mark,
    evaluate,
    roll_net_credit,
    to_decision,
)
from shared.schema import decisions, intent_legs, intents
from shared.strategy import CallRules, ManagementRules, PutRules, Strategy
from shared.trade import ManagementAction, ManagementRule, Right, RuleMode

R = ManagementRule
A = ManagementAction


def put(**kw: object) -> ShortOption:
    """A short KO put sold for $1.20/share, 35 DTE, OTM, quoted 0.95/1.05 (mark 1.00)."""
    values: dict[str, object] = {
        "symbol": "KO",
        "con_id": 101,
        "local_symbol": "KO    261218P00065000",
        "right": Right.PUT,
        "strike": 65.0,
        "expiry": "20261218",
        "contracts": 2,
        "multiplier": 100,
        "credit": 1.20,
        "bid": 0.95,
        "ask": 1.05,
        "delta": -0.25,
        "underlying_price": 68.0,
        "dte": 35,
    }
    values.update(kw)
    return ShortOption(**values)  # type: ignore[arg-type]


def rules(**kw: object) -> ManagementRules:
    return ManagementRules(**kw)  # type: ignore[arg-type]


def fired(option: ShortOption, r: ManagementRules | None = None) -> list[ManagementRule]:
    return [t.rule for t in evaluate(option, r or rules())]


# --- the mark and the profit ------------------------------------------------------------------
def test_mark_is_the_mid_and_a_zero_bid_counts() -> None:
    assert close_mark(0.95, 1.05) == 1.0
    assert close_mark(0.0, 0.05) == 0.025
    assert close_mark(None, 1.0) is None
    assert close_mark(-1.0, 1.0) is None  # IB: no bid
    assert close_mark(0.5, float("nan")) is None
    assert close_mark(1.1, 1.0) is None  # crossed
    assert close_mark(0.0, 0.0) is None
    assert put(bid=0.55, ask=0.65).profit_fraction == pytest.approx(0.5)


def test_nothing_fires_on_a_quiet_position() -> None:
    assert fired(put()) == []


# --- profit take ------------------------------------------------------------------------------------
def test_profit_take_fires_exactly_at_the_fraction_and_not_just_below() -> None:
    at = put(bid=0.59, ask=0.61)  # mark 0.60 = 50 % of 1.20
    (t,) = evaluate(at, rules())
    assert t.rule is R.PROFIT_TAKE and t.action is A.CLOSE and t.mode is RuleMode.APPROVE
    assert t.reason == (
        "profit 50 % of the $1.20/share credit ≥ 50 % (mark $0.60): buy to close KO 261218P00065000 "
        "at ≤ $0.61/share"
    )
    assert fired(put(bid=0.60, ask=0.62)) == []  # mark 0.61: 49.2 %
    assert fired(put(bid=0.45, ask=0.47), rules(profit_take_fraction=0.61)) == [R.PROFIT_TAKE]


def test_no_quote_no_price_rules() -> None:
    for bid, ask in ((None, None), (0.1, None), (None, 9.0), (-1.0, -1.0)):
        assert fired(put(bid=bid, ask=ask)) == []
    assert fired(put(bid=None, ask=None, dte=21)) == [R.DTE_ROLL]  # the calendar still counts


# --- stop loss -------------------------------------------------------------------------------------
def test_stop_loss_at_twice_the_credit() -> None:
    at = put(bid=3.50, ask=3.70, underlying_price=62.0, delta=-0.7)  # mark 3.60 = 1.20 + 2 × 1.20
    (t,) = evaluate(at, rules())
    assert t.rule is R.STOP_LOSS and t.action is A.CLOSE and t.severity == "warning"
    assert t.why.startswith("loss $2.40/share = 2.00 × the $1.20/share credit ≥ 2 ×")
    assert fired(put(bid=3.50, ask=3.68)) == []  # mark 3.59
    roll = evaluate(at, rules(stop_loss_action="roll", stop_loss_mode="auto"))
    assert [(x.rule, x.action, x.mode) for x in roll] == [(R.STOP_LOSS, A.ROLL, RuleMode.AUTO)]


# --- DTE roll ---------------------------------------------------------------------------------------
def test_dte_roll_at_21_not_22() -> None:
    assert fired(put(dte=22)) == []
    (t,) = evaluate(put(dte=21), rules())
    assert t.rule is R.DTE_ROLL and t.action is A.ROLL
    assert t.reason == "21 DTE ≤ 21: roll KO 261218P00065000 out for ≥ $0.05/share net credit"
    assert fired(put(dte=0)) == [R.DTE_ROLL]
    assert fired(put(dte=-1)) == []  # expired: nothing to manage


# --- gamma and assignment ---------------------------------------------------------------------------
def test_gamma_needs_itm_and_7_dte_for_puts_and_calls() -> None:
    r = rules(roll_dte=0)
    assert fired(put(dte=7, underlying_price=64.99), r) == [R.GAMMA]
    assert fired(put(dte=8, underlying_price=64.99), r) == []
    assert fired(put(dte=7, underlying_price=65.0), r) == []  # at the money is not in it
    assert fired(put(dte=7, underlying_price=None), r) == []
    call = put(right=Right.CALL, local_symbol="KO    261218C00070000", strike=70.0, delta=0.3)
    assert fired(replace(call, dte=5, underlying_price=70.01), r) == [R.GAMMA]
    assert fired(replace(call, dte=5, underlying_price=69.99), r) == []
    (t,) = evaluate(put(dte=7, underlying_price=64.0), r)
    assert t.action is A.HOLD and t.mode is RuleMode.ALERT and t.severity == "warning"
    assert not t.places_order
    assert "(KO $64.00 < the 65 strike)" in t.why
    (t,) = evaluate(put(dte=7, underlying_price=64.0), rules(roll_dte=0, gamma_mode="auto"))
    assert t.action is A.CLOSE and t.places_order


def test_assignment_needs_delta_and_dte() -> None:
    r = rules(roll_dte=0, gamma_dte=0)
    assert fired(put(delta=-0.50, dte=7), r) == [R.ASSIGNMENT]
    assert fired(put(delta=-0.49, dte=7), r) == []
    assert fired(put(delta=-0.60, dte=8), r) == []
    assert fired(put(delta=None, dte=1), r) == []
    (t,) = evaluate(put(delta=-0.6, dte=3), r)
    assert t.action is A.HOLD and "let KO 261218P00065000 be assigned" in t.what
    (t,) = evaluate(put(delta=-0.6, dte=3), rules(roll_dte=0, gamma_dte=0, assignment_mode="approve"))
    assert t.action is A.ROLL and t.mode is RuleMode.APPROVE


def test_priority_order_when_several_fire() -> None:
    crash = put(bid=3.9, ask=4.1, dte=5, underlying_price=60.0, delta=-0.9)
    assert fired(crash) == [R.STOP_LOSS, R.DTE_ROLL, R.GAMMA, R.ASSIGNMENT]
    win = put(bid=0.05, ask=0.07, dte=3, underlying_price=70.0, delta=-0.02)
    assert fired(win) == [R.PROFIT_TAKE, R.DTE_ROLL]


# --- roll targets -----------------------------------------------------------------------------------
def cand(**kw: object) -> RollCandidate:
    values: dict[str, object] = {
        "con_id": 202,
        "local_symbol": "KO    270115P00065000",
        "expiry": "20270115",
        "strike": 65.0,
        "right": Right.PUT,
        "bid": 1.40,
        "ask": 1.50,
        "delta": -0.25,
        "dte": 35,
    }
    values.update(kw)
    return RollCandidate(**values)  # type: ignore[arg-type]


def test_roll_choice_constraints() -> None:
    old = put(dte=21)  # mark 1.00
    rules_ = PutRules()  # DTE 21..45, delta target 0.25
    good = cand()
    assert roll_net_credit(old, good) == pytest.approx(0.45)
    assert choose_roll(old, [good], rules_, 0.05) == good
    assert choose_roll(old, [cand(expiry="20261218")], rules_, 0.05) is None  # not later
    assert choose_roll(old, [cand(dte=20)], rules_, 0.05) is None  # below dte_min
    assert choose_roll(old, [cand(dte=46)], rules_, 0.05) is None  # above dte_max
    assert choose_roll(old, [cand(strike=65.5)], rules_, 0.05) is None  # a worse put strike
    assert choose_roll(old, [cand(right=Right.CALL)], rules_, 0.05) is None
    assert choose_roll(old, [cand(bid=1.0, ask=1.09)], rules_, 0.05) is None  # net 0.045
    assert choose_roll(old, [cand(bid=1.0, ask=1.10)], rules_, 0.05) is not None  # net 0.05 exactly
    assert choose_roll(old, [cand(bid=None)], rules_, 0.05) is None
    assert choose_roll(put(bid=None, ask=None), [good], rules_, 0.05) is None  # old leg unquoted


def test_roll_prefers_the_target_delta_then_the_credit() -> None:
    old = put(dte=21)
    near = cand(con_id=1, strike=64.0, delta=-0.24, bid=1.2, ask=1.3)
    far = cand(con_id=2, strike=65.0, delta=-0.32, bid=1.9, ask=2.0)
    rich = cand(con_id=3, strike=64.0, delta=-0.26, bid=1.3, ask=1.4, expiry="20270122", dte=42)
    assert choose_roll(old, [far, near], PutRules(), 0.05) == near
    assert choose_roll(old, [far, near, rich], PutRules(), 0.05) == rich  # same distance, more credit
    assert choose_roll(old, [cand(delta=None), far], PutRules(), 0.05) == far


def test_call_rolls_keep_the_strike_or_go_higher() -> None:
    old = put(right=Right.CALL, strike=70.0, local_symbol="KO    261218C00070000", delta=0.3)
    lower = cand(right=Right.CALL, strike=69.0, delta=0.35)
    higher = cand(right=Right.CALL, strike=71.0, delta=0.28)
    assert choose_roll(old, [lower, higher], CallRules(), 0.05) == higher


# --- decisions --------------------------------------------------------------------------------------
def test_decision_of_a_close_caps_the_debit_at_the_ask() -> None:
    option = put(bid=0.45, ask=0.47)
    (t,) = evaluate(option, rules(profit_take_mode="auto"))
    d = to_decision(option, t, rules())
    assert d.rule is R.PROFIT_TAKE and d.action is A.CLOSE and d.mode is RuleMode.AUTO
    assert d.limit == 0.47 and d.mark == pytest.approx(0.46) and d.contracts == 2
    assert d.profit_fraction == pytest.approx(0.6166, abs=1e-3) and d.severity == "info"
    assert d.reason.startswith("profit 62 % of the $1.20/share credit ≥ 50 % (mark $0.46)")


def test_decision_of_a_roll_and_its_fallback() -> None:
    option = put(dte=21)
    r = rules(roll_mode="auto", roll_min_net_credit=0.10)
    (t,) = evaluate(option, r)
    target = cand()
    d = to_decision(option, t, r, target)
    assert d.action is A.ROLL and d.limit == 0.10 and d.new_con_id == 202
    assert d.net_credit == pytest.approx(0.45) and d.new_expiry == "20270115" and d.new_strike == 65.0
    assert "→ KO 270115P00065000 (35 DTE, delta -0.25) for $0.45/share net credit (≥ $0.10)" in d.reason
    fallback = to_decision(option, t, r, None)
    assert fallback.action is A.CLOSE and fallback.limit == 1.05 and fallback.new_con_id is None
    assert "no roll for ≥ $0.10/share net credit found: buy to close" in fallback.reason
    alert = to_decision(option, evaluate(option, rules(roll_mode="alert"))[0], rules())
    assert alert.action is A.ROLL and alert.mode is RuleMode.ALERT and alert.new_con_id is None


# --- the monitor's pure helpers -----------------------------------------------------------------------
def test_intent_key_is_an_order_ref() -> None:
    key = intent_key(R.PROFIT_TAKE, "KO    261218P00065000", 12)
    assert key == "TW-MGT-PROFIT-TAKE-KO261218P00065000-D12"
    assert len(intent_key(R.ASSIGNMENT, "X" * 80, 10**9)) <= 64


def _item(sec: str, position: float, avg: float, **contract: object) -> SimpleNamespace:
    c = SimpleNamespace(
        secType=sec,
        conId=contract.get("conId", 7),
        symbol="KO",
        localSymbol=contract.get("localSymbol", "KO    261218P00065000"),
        right=contract.get("right", "P"),
        strike=contract.get("strike", 65.0),
        lastTradeDateOrContractMonth="20261218",
        multiplier="100",
    )
    return SimpleNamespace(contract=c, position=position, averageCost=avg, marketPrice=68.0)


def test_short_options_from_the_portfolio() -> None:
    greeks = SimpleNamespace(delta=-0.3, undPrice=67.5)
    ticker = SimpleNamespace(bid=0.9, ask=1.0, modelGreeks=greeks)
    items = [_item("OPT", -2, 118.7), _item("OPT", 1, 50.0, conId=8), _item("STK", 100, 60.0, conId=9)]
    today = datetime(2026, 11, 20, 15, tzinfo=UTC).date()
    (s,) = short_options(items, lambda con_id: ticker if con_id == 7 else None, today)
    assert s.contracts == 2 and s.credit == pytest.approx(1.187) and s.dte == 28
    assert (s.bid, s.ask, s.delta, s.underlying_price, s.right) == (0.9, 1.0, -0.3, 67.5, Right.PUT)
    (bare,) = short_options(items[:1], lambda con_id: None, today)
    assert bare.bid is None and bare.delta is None and bare.mark is None


def test_daily_figures() -> None:
    first = daily_figures(None, "2026-11-20", 100_000.0, 0.03)
    assert (first.day_start, first.pnl, first.halt) == (100_000.0, 0.0, False)
    same = daily_figures(first, "2026-11-20", 97_000.0, 0.03)
    assert same.halt and same.pnl == -3000.0
    assert same.reason.startswith("daily loss $3,000.00 = 3.00 % of the day's start $100,000.00 ≥ 3.00 %")
    below = daily_figures(first, "2026-11-20", 97_000.01, 0.03)
    assert not below.halt
    stays = daily_figures(same, "2026-11-20", 101_000.0, 0.03)
    assert stays.halt and stays.reason == same.reason  # for the rest of the day
    nextday = daily_figures(same, "2026-11-23", 96_000.0, 0.03)
    assert (nextday.day_start, nextday.halt) == (96_000.0, False)
    unknown = daily_figures(first, "2026-11-20", None, 0.03)
    assert (unknown.day_start, unknown.nlv, unknown.pnl, unknown.halt) == (100_000.0, 100_000.0, 0.0, False)


def test_csp_collateral_counts_short_puts_only() -> None:
    items = [
        _item("OPT", -2, 118.7),
        _item("OPT", -1, 80.0, conId=8, right="C", strike=70.0),
        _item("OPT", 1, 50.0, conId=9, strike=60.0),
        _item("STK", 100, 60.0, conId=10),
    ]
    assert csp_collateral(items) == 13_000.0


# --- the monitor's loop on a real SQLite file (monitor.manage.Manager) ----------------------------------
class FakeSearch:
    """Roll candidates as TWS would return them (``None``: TWS could not be asked)."""

    def __init__(self, found: list[RollCandidate] | None) -> None:
        self.found = found

    def search(self, today: object) -> FakeSearch:
        return self

    async def candidates(self, option: ShortOption, rules: object) -> list[RollCandidate] | None:
        return self.found


def manager(engine: Engine, management: str, found: list[RollCandidate] | None = None) -> tuple[Any, list]:
    strategy = Strategy.model_validate(
        tomllib.loads(f"[universe]\nsymbols = ['KO']\n[management]\n{management}")
    )
    sent: list[tuple[str, ...]] = []
    m = Manager(
        engine, strategy, logging.getLogger("test"), lambda *a, **k: sent.append(a), FakeSearch(found)
    )  # type: ignore[arg-type]
    return m, sent


def run(m: Any, bid: float | None, ask: float | None, *, dte_days: int = 28, held: bool = True) -> None:
    """One refresh: a short KO put (credit 1.187) quoted ``bid``/``ask``, ``dte_days`` before its expiry."""
    ticker = SimpleNamespace(bid=bid, ask=ask, modelGreeks=SimpleNamespace(delta=-0.3, undPrice=68.0))
    now = datetime(2026, 12, 18, 15, tzinfo=UTC) - timedelta(days=dte_days)
    items = [_item("OPT", -2, 118.7)] if held else []
    asyncio.run(m.run(items, lambda con_id: ticker, now, True))


def table(engine: Engine, t: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(t).order_by(*t.primary_key.columns)))


def set_intent(engine: Engine, key: str, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(intents).where(intents.c.key == key).values(status=status))


def test_auto_close_once_then_filled(engine: Engine) -> None:
    m, sent = manager(engine, 'profit_take_mode = "auto"')
    run(m, 0.40, 0.42)
    run(m, 0.40, 0.42)
    (d,) = table(engine, decisions)
    (i,) = table(engine, intents)
    assert (d.status, d.rule, d.intent_key, d.limit_price) == ("approved", "profit_take", i.key, 0.42)
    assert (i.kind, i.action, i.status, i.quantity, i.limit_floor, i.con_id) == (
        "buy_to_close", "BUY", "approved", 2, 0.42, 7,
    )  # fmt: skip
    assert len(sent) == 1 and sent[0][:2] == ("info", "management")
    set_intent(engine, i.key, "filled")
    run(m, 0.40, 0.42, held=False)
    assert [r.status for r in table(engine, decisions)] == ["filled"]


def test_one_order_per_position_and_alerts_beside_it(engine: Engine) -> None:
    m, sent = manager(engine, 'profit_take_mode = "approve"\nstop_loss_mode = "approve"')
    run(m, 0.40, 0.42)
    run(m, 4.0, 4.2, dte_days=7)  # stop loss and DTE roll fire, but the proposal still waits
    assert [(d.rule, d.status) for d in table(engine, decisions)] == [("profit_take", "pending")]
    (i,) = table(engine, intents)
    assert i.status == "proposed" and len(sent) == 1
    set_intent(engine, i.key, "cancelled")  # the user rejects it
    run(m, 4.0, 4.2, dte_days=30)
    assert [(d.rule, d.status) for d in table(engine, decisions)] == [
        ("profit_take", "rejected"), ("stop_loss", "pending"),
    ]  # fmt: skip
    run(m, 4.0, 4.2, held=False)  # the position went before the click
    assert table(engine, decisions)[1].status == "lapsed"
    assert table(engine, intents)[1].status == "cancelled"
    assert "no longer held" in table(engine, intents)[1].status_reason


def test_no_quote_waits_and_a_lapse_does_not_refire_at_once(engine: Engine) -> None:
    m, _ = manager(engine, 'profit_take_mode = "auto"')
    run(m, None, None)
    assert table(engine, decisions) == []
    run(m, 0.40, 0.42)
    set_intent(engine, table(engine, intents)[0].key, "rejected")  # e.g. refused by the risk gate
    run(m, 0.40, 0.42)
    run(m, 0.40, 0.42)
    assert [d.status for d in table(engine, decisions)] == ["lapsed"]


def test_rolls_write_two_legs_or_close_or_wait(engine: Engine) -> None:
    target = cand(con_id=202, right=Right.PUT, expiry="20270115", dte=35, bid=1.6, ask=1.7)
    m, sent = manager(engine, 'roll_mode = "auto"', [target])
    run(m, 0.95, 1.05, dte_days=21)
    (d,) = table(engine, decisions)
    (i,) = table(engine, intents)
    assert (d.action, d.new_con_id, i.kind, i.limit_floor) == ("roll", 202, "roll", -0.05)
    legs = table(engine, intent_legs)
    assert [(leg.leg_no, leg.con_id, leg.action, leg.ratio) for leg in legs] == [
        (1, 7, "BUY", 1),
        (2, 202, "SELL", 1),
    ]
    assert "rolling to KO 270115P00065000" in sent[0][2]

    for found, expected in ((None, []), ([], ["close"])):
        with engine.begin() as conn:
            for t in (intent_legs, intents, decisions):
                conn.execute(delete(t))
        m, _ = manager(engine, 'roll_mode = "auto"', found)
        run(m, 0.95, 1.05, dte_days=21)
        assert [r.action for r in table(engine, decisions)] == expected
