"""The repricing ladder (executor/ladder.py) at its edges: the floor clamp, ticks, the natural price, the step
limit, BUY vs SELL, credit combos; the cancel rules (deadline, 5 minutes before the close, early closes);
and the step count read back from ``order_events`` (executor/repricer.py's store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert

from executor.ladder import (
    LadderState,
    LegQuote,
    Move,
    Phase,
    Session,
    cancel_reason,
    combo_bid_ask,
    deadline_of,
    fixed_tick,
    money,
    next_limit,
    option_tick_rule,
    session_phase,
    step_number,
)
from executor.repricer import RepriceStore
from shared.marketcal import XnysSessions
from shared.schema import intents, order_events, orders
from shared.trade import Action

BUY, SELL = Action.BUY, Action.SELL
PENNY = option_tick_rule()  # 0.01 below $3, 0.05 at or above
CENT = fixed_tick(0.01)


def step(action: Action, limit: float, bid: float, ask: float, floor: float | None = None, done: int = 0):
    return next_limit(LadderState(action, limit, bid, ask, floor, done), 0.25, 4, PENNY)


def walk(action: Action, limit: float, bid: float, ask: float, floor: float | None, tick=PENNY) -> list:
    """Every decision until the ladder stops moving (a steady quote)."""
    out, done = [], 0
    for _ in range(10):
        d = next_limit(LadderState(action, limit, bid, ask, floor, done), 0.25, 4, tick)
        out.append(d)
        if d.move is not Move.STEP:
            break
        limit, done = d.new_limit, done + 1
    return out


# -- SELL / BUY, the message ------------------------------------------------------------------------------
def test_a_sell_moves_a_quarter_of_the_way_down_to_the_bid() -> None:
    d = step(SELL, 1.20, 1.00, 1.10, floor=1.05)
    assert d.move is Move.STEP and d.new_limit == 1.15 and d.step == 1
    assert d.natural == 1.00 and d.target == 1.15
    assert d.message == "repriced 1/4: LMT 1.20 → 1.15 (natural 1.00, floor 1.05)"


def test_a_buy_moves_a_quarter_of_the_way_up_to_the_ask() -> None:
    d = step(BUY, 1.00, 0.90, 1.20, floor=1.10)
    assert d.move is Move.STEP and d.new_limit == 1.05 and d.natural == 1.20
    assert d.message == "repriced 1/4: LMT 1.00 → 1.05 (natural 1.20, floor 1.10)"


def test_rounding_goes_towards_the_natural_side() -> None:
    # SELL: 1.20 + 0.25 × (1.01 − 1.20) = 1.1525 → down to 1.15; BUY: 1.00 + 0.25 × 0.17 = 1.0425 → up
    assert step(SELL, 1.20, 1.01, 1.10).new_limit == 1.15
    assert step(BUY, 1.00, 0.90, 1.17).new_limit == 1.05


def test_without_a_floor_the_message_says_so() -> None:
    assert step(SELL, 1.20, 1.00, 1.10).message.endswith("(natural 1.00, no floor)")


# -- the floor --------------------------------------------------------------------------------------------
def test_the_floor_clamps_a_sell_then_holds_it_there() -> None:
    steps = walk(SELL, 1.20, 0.80, 0.90, floor=1.05)
    limits = [d.new_limit for d in steps if d.move is Move.STEP]
    assert limits == [1.10, 1.05]  # 1.20 → 1.10 (target 1.10); 1.10 → 1.025 clamped to 1.05
    assert all(x >= 1.05 for x in limits)
    last = steps[-1]
    assert last.move is Move.HOLD and last.reason == "at the floor" and last.step == 2
    assert last.message == "reprice held: at the floor (LMT 1.05, natural 0.80, floor 1.05)"


def test_the_floor_clamps_a_buy_from_above() -> None:
    steps = walk(BUY, 1.00, 0.90, 1.40, floor=1.12)  # maximum debit 1.12
    limits = [d.new_limit for d in steps if d.move is Move.STEP]
    assert limits == [1.10, 1.12] and steps[-1].reason == "at the floor"


def test_a_floor_between_ticks_is_never_crossed() -> None:
    # a SELL floor of 1.053 is 1.06 on the tick (1.05 would be below the minimum credit)
    d = step(SELL, 1.10, 0.90, 1.00, floor=1.053)
    assert d.new_limit == 1.06 and d.floor == 1.06
    # a BUY floor of 0.987 is 0.98 (0.99 would be above the maximum debit)
    d = step(BUY, 0.90, 0.80, 1.30, floor=0.987)
    assert d.new_limit == 0.98 and d.floor == 0.98


def test_a_limit_already_past_the_floor_never_moves_away_from_the_market() -> None:
    d = step(SELL, 1.00, 0.90, 0.95, floor=1.05)
    assert d.move is Move.HOLD and d.reason == "at the floor"


# -- the natural price -------------------------------------------------------------------------------------
def test_a_marketable_order_holds() -> None:
    for bid in (1.00, 1.05):  # the bid at or above a SELL's limit
        d = step(SELL, 1.00, bid, 1.10)
        assert d.move is Move.HOLD and d.reason.startswith("marketable")
    assert step(BUY, 1.00, 0.90, 0.98).move is Move.HOLD  # the ask below a BUY's limit


def test_a_step_never_overshoots_the_natural_price() -> None:
    # one tick away: the step lands on the natural price, not past it
    assert step(SELL, 1.01, 1.00, 1.02).new_limit == 1.00
    # a natural price between ticks: the step stops on the tick on the order's side of it
    d = next_limit(LadderState(SELL, 1.20, 1.003, 1.10, None, 0), 1.0, 4, PENNY)
    assert d.new_limit == 1.01
    d = next_limit(LadderState(BUY, 0.80, 0.70, 0.997, None, 0), 1.0, 4, PENNY)
    assert d.new_limit == 0.99


def test_a_whole_fraction_goes_to_the_natural_price_at_once() -> None:
    d = next_limit(LadderState(SELL, 1.20, 1.00, 1.10, None, 0), 1.0, 4, PENNY)
    assert d.new_limit == 1.00


def test_no_quote_and_a_crossed_quote_hold() -> None:
    assert (
        next_limit(LadderState(SELL, 1.2, None, 1.1, None, 0), 0.25, 4, PENNY).reason == "no two-sided quote"
    )
    assert step(SELL, 1.20, float("nan"), 1.10).reason == "no two-sided quote"
    assert step(SELL, 1.20, 1.10, 1.00).reason == "crossed quote"


# -- ticks --------------------------------------------------------------------------------------------------
def test_nickel_ticks_at_and_above_three_dollars() -> None:
    assert step(SELL, 3.50, 3.00, 3.20).new_limit == 3.35  # 3.375 → 3.35 on 0.05
    limits = [d.new_limit for d in walk(SELL, 3.10, 2.90, 3.00, None) if d.move is Move.STEP]
    assert limits == [3.05, 3.00, 2.97, 2.95]  # 3.05 → 3.0125 → 3.00 (0.05); 2.975 → 2.97 (0.01 below 3)


def test_penny_classes_quote_pennies_at_every_price() -> None:
    spy = option_tick_rule(all_prices_penny=True)
    d = next_limit(LadderState(SELL, 5.00, 4.80, 4.90, None, 0), 0.25, 4, spy)
    assert d.new_limit == 4.95


def test_non_penny_classes_use_nickels_below_three_dollars() -> None:
    wide = option_tick_rule(penny_pilot=False)
    d = next_limit(LadderState(SELL, 1.20, 1.00, 1.10, None, 0), 0.25, 4, wide)
    assert d.new_limit == 1.15  # 1.15 is on the 0.05 grid
    d = next_limit(LadderState(SELL, 1.20, 1.08, 1.15, None, 0), 0.25, 4, wide)
    assert d.new_limit == 1.15  # 1.17 → down to 1.15
    assert all((d.new_limit or 0) * 20 % 1 < 1e-9 for d in walk(SELL, 1.20, 0.50, 0.60, None, wide)[:-1])


def test_every_step_concedes_at_least_one_tick() -> None:
    # 0.25 × 0.02 = 0.005 would round back to the limit: it still moves one tick
    assert step(SELL, 1.02, 1.00, 1.05).new_limit == 1.01
    assert step(BUY, 1.00, 0.95, 1.02).new_limit == 1.01


# -- the step limit ------------------------------------------------------------------------------------------
def test_at_most_four_steps() -> None:
    steps = walk(SELL, 2.00, 1.00, 1.10, None)
    assert [d.move for d in steps] == [Move.STEP] * 4 + [Move.DONE]
    assert [d.new_limit for d in steps[:4]] == [1.75, 1.56, 1.42, 1.31]
    assert [d.step for d in steps[:4]] == [1, 2, 3, 4]
    assert steps[3].message.startswith("repriced 4/4: LMT 1.42 → 1.31")
    assert steps[4].reason == "all 4 steps used"


def test_zero_steps_never_reprices_and_a_bad_fraction_is_refused() -> None:
    assert next_limit(LadderState(SELL, 1.2, 1.0, 1.1, None, 0), 0.25, 0, PENNY).move is Move.DONE
    with pytest.raises(ValueError, match="fraction"):
        next_limit(LadderState(SELL, 1.2, 1.0, 1.1, None, 0), 0.0, 4, PENNY)
    with pytest.raises(ValueError, match="limit"):
        next_limit(LadderState(SELL, float("inf"), 1.0, 1.1, None, 0), 0.25, 4, PENNY)


# -- combos ------------------------------------------------------------------------------------------------
#: A roll of a short put: BUY the old put (1.00/1.10), SELL the new one (1.50/1.60).
ROLL = [LegQuote(BUY, 1, 1.00, 1.10), LegQuote(SELL, 1, 1.50, 1.60)]


def test_combo_quote_from_its_legs() -> None:
    assert combo_bid_ask(ROLL) == (-0.60, -0.40)
    assert combo_bid_ask([LegQuote(SELL, 1, 1.00, 1.10), LegQuote(BUY, 1, 1.50, 1.60)]) == (0.40, 0.60)
    assert combo_bid_ask([LegQuote(BUY, 2, 0.50, 0.55), LegQuote(SELL, 1, 0.80, 0.90)]) == (0.10, 0.30)


def test_a_credit_combo_sent_as_buy_at_a_negative_limit() -> None:
    """The roll as IB's convention sends it: BUY [BUY old, SELL new] at −0.50 = receive at least 0.50. Its
    natural price is the combo's ask (−0.40: the least credit); the floor (maximum debit) −0.45 = a minimum
    credit of 0.45."""
    bid, ask = combo_bid_ask(ROLL)
    steps = walk(BUY, -0.50, bid, ask, floor=-0.45, tick=CENT)
    assert [d.new_limit for d in steps if d.move is Move.STEP] == [-0.47, -0.45]
    assert steps[0].message == "repriced 1/4: LMT -0.50 → -0.47 (natural -0.40, floor -0.45)"
    assert steps[-1].move is Move.HOLD and steps[-1].reason == "at the floor"


def test_the_same_credit_combo_sent_as_sell_mirrors_it() -> None:
    """SELL [SELL old, BUY new] at +0.50 is the same roll: every step gives the same credit."""
    bid, ask = combo_bid_ask([LegQuote(SELL, 1, 1.00, 1.10), LegQuote(BUY, 1, 1.50, 1.60)])
    steps = walk(SELL, 0.50, bid, ask, floor=0.45, tick=CENT)
    assert [d.new_limit for d in steps if d.move is Move.STEP] == [0.47, 0.45]
    assert steps[-1].reason == "at the floor"


def test_a_combo_sell_at_a_negative_price_moves_down_and_keeps_its_floor() -> None:
    bid, ask = combo_bid_ask(ROLL)  # selling this combo pays: its bid is −0.60
    steps = walk(SELL, -0.50, bid, ask, floor=-0.55, tick=CENT)
    limits = [d.new_limit for d in steps if d.move is Move.STEP]
    assert limits == [-0.53, -0.55] and all(x >= -0.55 for x in limits)


def test_a_combo_ladder_without_a_floor_crosses_zero() -> None:
    steps = walk(BUY, -0.05, -0.10, 0.20, None, tick=CENT)
    assert [d.new_limit for d in steps if d.move is Move.STEP] == [0.02, 0.07, 0.11, 0.14]


# -- formatting, the step count ------------------------------------------------------------------------------
def test_money() -> None:
    assert [money(x) for x in (1.2, -0.4, 0.0, -0.0, 1.055, 12.5)] == [
        "1.20",
        "-0.40",
        "0.00",
        "0.00",
        "1.055",
        "12.50",
    ]


def test_step_number_reads_the_event_messages() -> None:
    assert step_number("repriced 1/4: LMT 1.20 → 1.15 (natural 1.00, floor 1.05)") == 1
    assert step_number("repriced 12/20: LMT 1.20 → 1.15 (natural 1.00, no floor)") == 12
    for other in ("placing SELL 1 KO LMT 1.2", "reprice held: at the floor (LMT 1.05)", "", None):
        assert step_number(other) is None


def test_the_store_derives_steps_and_the_last_step_time(engine: Engine) -> None:
    placed, t1, t2 = "2026-12-03T15:00:00+00:00", "2026-12-03T15:00:30+00:00", "2026-12-03T15:01:00+00:00"
    with engine.begin() as conn:
        for key, status, order_status in (("A", "working", "Submitted"), ("B", "working", "Filled")):
            conn.execute(
                insert(intents).values(
                    key=key, source="dashboard", kind="sell_put", action="SELL", sec_type="OPT", symbol="KO",
                    con_id=1, local_symbol="KO P", quantity=1, limit_floor=1.05, status=status,
                    status_reason="", created_at=placed, updated_at=placed,
                )
            )  # fmt: skip
            conn.execute(
                insert(orders).values(
                    intent_key=key, order_id=7, client_id=12000, action="SELL", order_type="LMT", quantity=1,
                    limit_price=1.2, con_id=1, symbol="KO", local_symbol="KO P", status=order_status,
                    filled=0, created_at=placed, updated_at=placed,
                )
            )  # fmt: skip
        for ts, message in ((t1, "repriced 1/4: LMT 1.20 → 1.15 (…)"), (t2, "repriced 2/4: LMT 1.15 → 1.11")):
            conn.execute(
                insert(order_events).values(intent_key="A", ts=ts, status="Submitted", message=message)
            )
        conn.execute(insert(order_events).values(intent_key="A", ts=t2, status="Submitted", message="held"))
    [a] = RepriceStore(engine).working()  # B's order is filled: not working
    assert (a.key, a.order_id, a.steps, a.floor) == ("A", 7, 2, 1.05)
    assert a.last_step_at == datetime(2026, 12, 3, 15, 1, tzinfo=UTC)


# -- cancels ----------------------------------------------------------------------------------------------
def et(text: str) -> datetime:
    """An Eastern wall-clock time as aware UTC (December: EST = UTC−5)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC) + timedelta(hours=5)


REGULAR = Session(et("2026-12-03T09:30"), et("2026-12-03T16:00"))
EARLY = Session(datetime(2026, 11, 27, 14, 30, tzinfo=UTC), datetime(2026, 11, 27, 18, 0, tzinfo=UTC))


def test_cancel_five_minutes_before_the_close() -> None:
    wall = et("2026-12-03T10:00")
    assert cancel_reason(et("2026-12-03T15:54:59"), REGULAR, wall, None) is None
    assert cancel_reason(et("2026-12-03T15:55"), REGULAR, wall, None) == (
        "cancelled: 5 min before the close (16:00 ET)"
    )
    assert cancel_reason(et("2026-12-03T15:59:59"), REGULAR, wall, None) is not None
    assert cancel_reason(et("2026-12-03T16:00"), None, wall, None) is None  # closed: nothing to do


def test_cancel_before_an_early_close() -> None:
    assert cancel_reason(datetime(2026, 11, 27, 17, 56, tzinfo=UTC), EARLY, datetime.now(UTC), None) == (
        "cancelled: 5 min before the close (13:00 ET)"
    )


def test_cancel_at_the_deadline_on_the_intents_clock() -> None:
    approved = datetime(2026, 12, 3, 19, 2, tzinfo=UTC)  # 14:02 ET
    deadline = deadline_of(approved, 30)
    assert deadline == approved + timedelta(minutes=30)
    tws = et("2026-12-03T11:00")  # TWS's clock (e.g. the simulator's) does not decide the deadline
    assert cancel_reason(tws, REGULAR, approved + timedelta(minutes=29), deadline) is None
    assert cancel_reason(tws, REGULAR, approved + timedelta(minutes=30), deadline) == (
        "cancelled: deadline 14:32 ET passed"
    )
    assert deadline_of(approved, 0) is None


def test_session_phases() -> None:
    assert session_phase(et("2026-12-03T09:29"), None) is Phase.CLOSED
    assert session_phase(et("2026-12-03T09:30"), REGULAR) is Phase.OPEN
    assert session_phase(et("2026-12-03T15:55"), REGULAR) is Phase.CLOSING
    assert session_phase(et("2026-12-03T16:00"), REGULAR) is Phase.CLOSED


def test_xnys_sessions_know_holidays_and_early_closes() -> None:
    sessions = XnysSessions()
    s = sessions.session_at(et("2026-12-03T10:00"))
    assert s == REGULAR
    assert sessions.session_at(datetime(2026, 11, 27, 17, 0, tzinfo=UTC)) == EARLY  # day after Thanksgiving
    assert sessions.session_at(et("2026-12-03T08:00")) is None  # before the open
    assert sessions.session_at(et("2026-12-05T12:00")) is None  # Saturday
    assert sessions.session_at(et("2026-12-25T12:00")) is None  # Christmas
    summer = sessions.session_at(datetime(2027, 7, 1, 19, 59, tzinfo=UTC))  # 15:59 EDT
    assert summer is not None and summer.close == datetime(2027, 7, 1, 20, 0, tzinfo=UTC)
