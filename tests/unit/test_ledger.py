"""The wheel-cycle ledger on plain values: stages, premiums, cost basis, P&L, bookings where TWS is silent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.ledger import LedgerError, build_cycles, build_ledger
from shared.ledgerbook import HeldPosition, missing_executions
from shared.trade import CycleStage, Execution, ExecutionSource, LegKind, Right, Side

NOW = datetime(2027, 2, 1, 15, 0, tzinfo=UTC)


def opt(
    exec_id: str,
    t: str,
    side: Side,
    price: float,
    strike: float = 50.0,
    right: Right = Right.PUT,
    expiry: str = "20270115",
    qty: float = 1,
    commission: float | None = 0.65,
    order_ref: str = "TW-1",
    con_id: int = 0,
    source: ExecutionSource = ExecutionSource.TWS,
) -> Execution:
    return Execution(
        exec_id=exec_id,
        source=source,
        time=t,
        symbol="KO",
        sec_type="OPT",
        con_id=con_id or int(strike * 10) + (1 if right is Right.CALL else 0),
        local_symbol=f"KO {expiry}{right.value}{strike:g}",
        side=side,
        quantity=qty,
        price=price,
        multiplier=100,
        expiry=expiry,
        strike=strike,
        right=right,
        commission=commission,
        order_ref=order_ref,
        order_id=7 if order_ref else 0,
    )


def stk(exec_id: str, t: str, side: Side, price: float, qty: float = 100, order_ref: str = "") -> Execution:
    return Execution(
        exec_id=exec_id,
        source=ExecutionSource.TWS,
        time=t,
        symbol="KO",
        sec_type="STK",
        con_id=1,
        local_symbol="KO",
        side=side,
        quantity=qty,
        price=price,
        commission=0.0 if not order_ref else 1.0,
        order_ref=order_ref,
        order_id=9 if order_ref else 0,
    )


T0, T1, T2, T3 = (
    "2026-12-14T15:00:00+00:00",
    "2027-01-15T21:00:00+00:00",
    "2027-01-18T15:00:00+00:00",
    "2027-02-19T21:00:00+00:00",
)


def full_wheel() -> list[Execution]:
    return [
        opt("e1", T0, Side.SOLD, 1.20),  # sell 50 put for $120
        opt("e2", T1, Side.BOUGHT, 0.0, commission=0.0, order_ref=""),  # assigned
        stk("e3", T1, Side.BOUGHT, 50.0),  # 100 shares at the strike
        opt("e4", T2, Side.SOLD, 0.80, strike=52.0, right=Right.CALL, expiry="20270219"),
        opt("e5", T3, Side.BOUGHT, 0.0, 52.0, Right.CALL, "20270219", commission=0.0, order_ref=""),
        stk("e6", T3, Side.SOLD, 52.0),  # called away
    ]


def test_put_assigned_then_called_away_closes_one_cycle_with_its_numbers() -> None:
    (cycle,) = build_cycles(full_wheel(), NOW)
    assert cycle.stage is CycleStage.CLOSED and cycle.closed_at == T3
    kinds = [leg.kind for leg in cycle.legs]
    assert kinds == [
        LegKind.SELL_PUT,
        LegKind.PUT_ASSIGNED,
        LegKind.SHARES_ASSIGNED,
        LegKind.SELL_CALL,
        LegKind.CALL_ASSIGNED,
        LegKind.SHARES_CALLED_AWAY,
    ]
    assert cycle.premiums == pytest.approx(200.0)
    assert cycle.commissions == pytest.approx(1.30)
    assert cycle.stock_pnl == pytest.approx(200.0)
    assert cycle.realized_pnl == pytest.approx(200 + 200 - 1.30)
    assert cycle.assigned_shares == 100 and cycle.assignment_price == 50.0
    assert cycle.collateral == pytest.approx(5000.0)
    assert cycle.days_open == (datetime(2027, 2, 19) - datetime(2026, 12, 14)).days
    assert cycle.annualized_return == pytest.approx(398.70 / 5000 * 365 / cycle.days_open)


def test_stages_and_adjusted_cost_basis_along_the_way() -> None:
    execs = full_wheel()
    (c,) = build_cycles(execs[:1], NOW)
    assert c.stage is CycleStage.PUT and c.adjusted_cost_basis is None
    assert c.realized_pnl == pytest.approx(-0.65)  # the open put's premium is not realized yet
    (c,) = build_cycles(execs[:3], NOW)
    assert c.stage is CycleStage.SHARES and c.shares == 100
    # (assignment cost − net premiums + commissions) ÷ shares
    assert c.adjusted_cost_basis == pytest.approx((5000 - 120 + 0.65) / 100)
    (c,) = build_cycles(execs[:4], NOW)
    assert c.stage is CycleStage.SHARES_CALL
    assert c.adjusted_cost_basis == pytest.approx((5000 - 200 + 1.30) / 100)


def test_expired_put_closes_the_cycle_and_the_next_put_starts_another() -> None:
    execs = [
        opt("a", T0, Side.SOLD, 1.0),
        opt("b", T1, Side.BOUGHT, 0.0, commission=None, order_ref="", source=ExecutionSource.EXPIRY),
        opt("c", T2, Side.SOLD, 0.9, strike=48.0, expiry="20270219"),
    ]
    first, second = build_cycles(execs, NOW)
    assert first.stage is CycleStage.CLOSED and first.legs[1].kind is LegKind.PUT_EXPIRED
    assert first.realized_pnl == pytest.approx(100 - 0.65)
    assert second.stage is CycleStage.PUT and second.started_at == T2


def test_roll_legs_at_one_time_stay_in_one_cycle() -> None:
    execs = [
        opt("a", T0, Side.SOLD, 1.0),
        opt("b", T2, Side.BOUGHT, 0.4),
        opt("c", T2, Side.SOLD, 1.1, strike=49.0, expiry="20270219"),
    ]
    (c,) = build_cycles(execs, NOW)
    assert [leg.kind for leg in c.legs] == [LegKind.SELL_PUT, LegKind.BUY_PUT, LegKind.SELL_PUT]
    assert c.premiums == pytest.approx(170.0) and c.stage is CycleStage.PUT


def test_preexisting_shares_start_a_cycle_at_tws_average_cost() -> None:
    state = build_ledger([], NOW)
    rec = missing_executions(state, [HeldPosition("KO", "STK", 1, 200, 61.25)], NOW)
    (opening,) = rec.executions
    assert opening.source is ExecutionSource.OPENING and opening.quantity == 200 and opening.price == 61.25
    (c,) = build_cycles(rec.executions, NOW)
    assert c.preexisting and c.stage is CycleStage.SHARES and c.adjusted_cost_basis == pytest.approx(61.25)


def test_a_lapse_tws_did_not_report_is_booked_at_its_expiry_close() -> None:
    state = build_ledger([opt("a", T0, Side.SOLD, 1.0)], NOW)
    rec = missing_executions(state, [], NOW)
    (lapse,) = rec.executions
    assert lapse.source is ExecutionSource.EXPIRY and lapse.price == 0 and lapse.side is Side.BOUGHT
    assert lapse.time == "2027-01-15T21:00:00+00:00"
    (c,) = build_cycles([opt("a", T0, Side.SOLD, 1.0), lapse], NOW)
    assert c.stage is CycleStage.CLOSED


def test_an_assignment_seen_only_in_the_positions_is_inferred() -> None:
    state = build_ledger([opt("a", T0, Side.SOLD, 1.0)], NOW)
    rec = missing_executions(state, [HeldPosition("KO", "STK", 1, 100, 50.0)], NOW)
    assert [e.source for e in rec.executions] == [ExecutionSource.INFERRED, ExecutionSource.INFERRED]
    (c,) = build_cycles([opt("a", T0, Side.SOLD, 1.0), *rec.executions], NOW)
    assert c.stage is CycleStage.SHARES and c.assignment_price == 50.0
    assert [leg.kind for leg in c.legs][1:] == [LegKind.PUT_ASSIGNED, LegKind.SHARES_ASSIGNED]


def test_an_option_still_before_expiry_is_left_alone() -> None:
    before = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)
    state = build_ledger([opt("a", T0, Side.SOLD, 1.0)], before)
    held = [HeldPosition("KO", "OPT", 500, -1)]
    assert missing_executions(state, held, before).executions == []


def test_executions_the_ledger_cannot_book_are_refused_with_their_id() -> None:
    bad = Execution("x9", ExecutionSource.TWS, T0, "ES", "FUT", 5, "ESZ6", Side.BOUGHT, 1, 6000.0)
    with pytest.raises(LedgerError, match="x9.*FUT"):
        build_cycles([bad], NOW)
    with pytest.raises(LedgerError, match="quantity"):
        build_cycles([opt("q", T0, Side.SOLD, 1.0, qty=0)], NOW)


def test_order_of_input_does_not_matter() -> None:
    a = build_cycles(full_wheel(), NOW)
    b = build_cycles(list(reversed(full_wheel())), NOW)
    assert a == b
