"""An order's recorded fills never go down: after a reconciliation recorded a roll as filled, a later
status of the same order without fills (ib_async builds a completed order's status with ``filled`` 0)
keeps the filled quantity, the remaining and the average price."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from ib_async import CommissionReport, Contract, Execution, Fill, LimitOrder, Option, OrderStatus, Trade
from sqlalchemy import Engine, insert, select

from executor.recording import OrderBook
from executor.store import ExecutorStore
from shared.db import utcnow_iso
from shared.schema import intent_legs, intents, orders

KEY = "TW-ROLL-KO-AWAY"


def _order(engine: Engine) -> None:
    now = utcnow_iso()
    with engine.begin() as conn:
        conn.execute(
            insert(orders).values(
                intent_key=KEY, order_id=16, client_id=12000, action="BUY", order_type="LMT", quantity=1,
                limit_price=-1.06, con_id=1, symbol="KO", local_symbol="KO    270115P00086000",
                status="Submitted", filled=0, created_at=now, updated_at=now,
            )
        )  # fmt: skip


def test_a_status_without_fills_keeps_the_fills_recorded(engine: Engine) -> None:
    _order(engine)
    store = ExecutorStore(engine)
    assert store.update_status(KEY, "Filled", 1, 0, -1.07, "filled while the executor was away")
    store.update_status(KEY, "Filled", 0, 0, None)  # the completed order's status, as ib_async builds it
    with engine.connect() as conn:
        row = conn.execute(select(orders).where(orders.c.intent_key == KEY)).one()
    assert (row.status, row.filled, row.remaining, row.avg_fill_price) == ("Filled", 1, 0, -1.07)


def _roll_intent(engine: Engine) -> None:
    now = utcnow_iso()
    with engine.begin() as conn:
        conn.execute(
            insert(intents).values(
                key=KEY, source="monitor", kind="roll", action="BUY", sec_type="BAG", symbol="KO", con_id=1,
                local_symbol="KO    270115P00086000", quantity=1, limit_floor=1.0, status="working",
                status_reason="", created_at=now, updated_at=now,
            )
        )  # fmt: skip
        for leg_no, (con_id, action, local) in enumerate(LEGS, start=1):
            conn.execute(
                insert(intent_legs).values(
                    intent_key=KEY, leg_no=leg_no, con_id=con_id, action=action, ratio=1, sec_type="OPT",
                    symbol="KO", local_symbol=local, expiry=local[6:12], strike=86.0, right="P",
                )
            )  # fmt: skip


LEGS = ((1, "BUY", "KO    270115P00086000"), (2, "SELL", "KO    270219P00086000"))


def _leg_fill(exec_id: str, con_id: int, side: str, price: float) -> Fill:
    contract = Option(conId=con_id, symbol="KO", localSymbol=dict((c, s) for c, _, s in LEGS)[con_id])
    execution = Execution(
        execId=exec_id, orderId=16, permId=7, side=side, shares=1, price=price, orderRef=KEY,
        time=datetime(2026, 12, 3, 15, 6, 41, tzinfo=UTC),
    )  # fmt: skip
    return Fill(contract, execution, CommissionReport(), execution.time)


def test_fills_reported_after_a_completed_filled_status_settle_the_order(engine: Engine) -> None:
    """After a restart ib_async reports the completed roll as ``Filled`` with 0 filled, and the legs'
    executions may only be recorded after it: the order row still ends with 1 filled at the net price,
    and the intent says filled without a made-up ``filled 0 @ 0.00``."""
    _roll_intent(engine)
    _order(engine)
    store = ExecutorStore(engine)
    book = OrderBook(store, logging.getLogger("test"), lambda *a: None)
    completed = Trade(
        contract=Contract(secType="BAG", symbol="KO"),
        order=LimitOrder("BUY", 1, -1.06, orderRef=KEY, permId=7),
        orderStatus=OrderStatus(status="Filled"),  # ib_async's completed order: filled 0, remaining 0
    )
    book.record_status(completed)
    book.record_fill(KEY, _leg_fill("e.1", 1, "BOT", 1.42))
    with engine.connect() as conn:
        half = conn.execute(select(orders).where(orders.c.intent_key == KEY)).one()
    assert half.filled == 0  # one leg of the combo is not a filled unit
    book.record_fill(KEY, _leg_fill("e.2", 2, "SLD", 2.48))
    with engine.connect() as conn:
        row = conn.execute(select(orders).where(orders.c.intent_key == KEY)).one()
        intent = conn.execute(select(intents).where(intents.c.key == KEY)).one()
    assert (row.status, row.filled, row.remaining) == ("Filled", 1, 0)
    assert row.avg_fill_price == pytest.approx(1.42 - 2.48)
    assert intent.status == "filled" and "0 @" not in intent.status_reason
