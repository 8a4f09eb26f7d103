"""The repricing job's wiring (executor/repricer.py) on a migrated SQLite file with a stand-in for TWS: what
it modifies (the same Order object, its remainder), what it cancels and when, what it writes. The same job
against the simulator: tests/integration/test_repricing.py."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from ib_async import Bag, ComboLeg, Contract, LimitOrder, Option, OrderStatus, Ticker, Trade
from sqlalchemy import Engine, insert, select

from executor.repricer import Repricer
from shared.db import utcnow
from shared.pacing import LineBudget
from shared.schema import intents, order_events, orders
from shared.strategy import OrderRules

CLIENT = 12000
IN_SESSION = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # 10:00 ET, a Thursday
BEFORE_THE_CLOSE = datetime(2026, 12, 3, 20, 56, tzinfo=UTC)  # 15:56 ET
BEFORE_THE_OPEN = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)  # 08:00 ET


class FakeIB:
    """What the repricer uses of ib_async's IB: open trades, snapshot quotes, placeOrder, cancelOrder."""

    def __init__(self, trade: Trade, quotes: dict[int, tuple[float, float]]) -> None:
        self.trade = trade
        self.quotes = quotes
        self.client = SimpleNamespace(clientId=CLIENT)
        self.placed: list[tuple[Any, Any, float]] = []
        self.cancelled: list[Any] = []

    def isConnected(self) -> bool:
        return True

    def openTrades(self) -> list[Trade]:
        return [] if self.trade.isDone() else [self.trade]

    async def reqTickersAsync(self, *contracts: Contract) -> list[Ticker]:
        tickers = []
        for c in contracts:
            ticker = Ticker(contract=c)
            ticker.bid, ticker.ask = self.quotes[c.conId]
            tickers.append(ticker)
        return tickers

    def placeOrder(self, contract: Contract, order: Any) -> Trade:
        self.placed.append((contract, order, order.lmtPrice))
        return self.trade

    def cancelOrder(self, order: Any) -> None:
        self.cancelled.append(order)
        self.trade.orderStatus.status = "PendingCancel"


def component(engine: Engine, ib: FakeIB, tws_now: datetime, **rules: Any) -> Any:
    async def current_time() -> datetime:
        return tws_now

    return SimpleNamespace(
        ib=ib,
        conn=SimpleNamespace(current_time=current_time, lines=LineBudget(3, "executor")),
        engine=engine,
        log=logging.getLogger("test.repricer"),
        strategy=SimpleNamespace(orders=OrderRules(**rules)),
        stop_event=asyncio.Event(),
    )


def add_order(
    engine: Engine, key: str, floor: float | None, approved: datetime, action: str = "SELL"
) -> None:
    stamp = approved.isoformat()
    with engine.begin() as conn:
        conn.execute(
            insert(intents).values(
                key=key, source="dashboard", kind="sell_put", action=action, sec_type="OPT", symbol="KO",
                con_id=11, local_symbol="KO P", quantity=2, limit_floor=floor, status="working",
                status_reason="", created_at=stamp, updated_at=stamp,
            )
        )  # fmt: skip
        conn.execute(
            insert(orders).values(
                intent_key=key, order_id=7, client_id=CLIENT, action=action, order_type="LMT", quantity=2,
                limit_price=1.2, con_id=11, symbol="KO", local_symbol="KO P", status="Submitted", filled=1,
                remaining=1, created_at=stamp, updated_at=stamp,
            )
        )  # fmt: skip


def option_trade(key: str, limit: float = 1.20, filled: float = 1, client: int = CLIENT) -> Trade:
    order = LimitOrder("SELL", 2, limit, orderRef=key, orderId=7, clientId=client)
    status = OrderStatus(orderId=7, status="Submitted", filled=filled, remaining=2 - filled)
    return Trade(Option("KO", "20261231", 86, "P", "SMART", conId=11), order, status, [], [])


def event_rows(engine: Engine, key: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            select(order_events).where(order_events.c.intent_key == key).order_by(order_events.c.id)
        ).all()


def one(engine: Engine, table: Any, key: str) -> Any:
    column = table.c.key if table is intents else table.c.intent_key
    with engine.connect() as conn:
        return conn.execute(select(table).where(column == key)).first()


def test_a_partly_filled_order_reprices_its_remainder_in_place(engine: Engine) -> None:
    add_order(engine, "K", 1.05, utcnow() - timedelta(hours=1))
    trade = option_trade("K")
    order = trade.order
    ib = FakeIB(trade, {11: (1.00, 1.10)})
    asyncio.run(Repricer(component(engine, ib, IN_SESSION)).run())
    [(contract, sent, price)] = ib.placed
    assert sent is order and sent.orderId == 7 and sent.totalQuantity == 2 and price == 1.15
    assert contract is trade.contract
    [event] = event_rows(engine, "K")
    assert event.message == "repriced 1/4: LMT 1.20 → 1.15 (natural 1.00, floor 1.05)"
    assert (event.status, event.filled, event.remaining) == ("Submitted", 1, 1)
    assert one(engine, orders, "K").limit_price == 1.15


def test_a_credit_combo_reprices_on_its_net_price(engine: Engine) -> None:
    add_order(engine, "R", -0.45, utcnow() - timedelta(hours=1), action="BUY")
    legs = [ComboLeg(conId=21, ratio=1, action="BUY", exchange="SMART"),
            ComboLeg(conId=22, ratio=1, action="SELL", exchange="SMART")]  # fmt: skip
    order = LimitOrder("BUY", 1, -0.50, orderRef="R", orderId=7, clientId=CLIENT)
    trade = Trade(
        Bag(symbol="KO", exchange="SMART", comboLegs=legs), order, OrderStatus(7, "Submitted"), [], []
    )
    ib = FakeIB(trade, {21: (1.00, 1.10), 22: (1.50, 1.60)})  # the combo: −0.60 / −0.40
    asyncio.run(Repricer(component(engine, ib, IN_SESSION)).run())
    [(_, sent, price)] = ib.placed
    assert sent is order and price == -0.47
    assert (
        event_rows(engine, "R")[-1].message == "repriced 1/4: LMT -0.50 → -0.47 (natural -0.40, floor -0.45)"
    )


def test_no_step_before_its_time_nor_after_the_last_one(engine: Engine) -> None:
    add_order(engine, "K", None, utcnow() - timedelta(seconds=5))  # placed 5 s ago: not due for 30 s
    ib = FakeIB(option_trade("K"), {11: (1.00, 1.10)})
    asyncio.run(Repricer(component(engine, ib, IN_SESSION)).run())
    assert ib.placed == []
    with engine.begin() as conn:
        conn.execute(insert(order_events).values(
            intent_key="K", ts=(utcnow() - timedelta(minutes=5)).isoformat(), status="Submitted",
            message="repriced 4/4: LMT 1.05 → 1.04 (natural 1.00, no floor)",
        ))  # fmt: skip
    asyncio.run(Repricer(component(engine, ib, IN_SESSION)).run())
    assert ib.placed == []


def test_nothing_moves_outside_the_session_or_for_another_client(engine: Engine) -> None:
    add_order(engine, "K", None, utcnow() - timedelta(hours=1))
    ib = FakeIB(option_trade("K"), {11: (1.00, 1.10)})
    asyncio.run(Repricer(component(engine, ib, BEFORE_THE_OPEN)).run())
    assert ib.placed == [] and ib.cancelled == []
    ib = FakeIB(option_trade("K", client=CLIENT + 1), {11: (1.00, 1.10)})
    asyncio.run(Repricer(component(engine, ib, IN_SESSION)).run())
    asyncio.run(Repricer(component(engine, ib, BEFORE_THE_CLOSE)).run())
    assert ib.placed == [] and ib.cancelled == [] and event_rows(engine, "K") == []


def test_a_hold_is_written_once(engine: Engine) -> None:
    add_order(engine, "K", 1.20, utcnow() - timedelta(hours=1))
    ib = FakeIB(option_trade("K"), {11: (1.00, 1.10)})
    repricer = Repricer(component(engine, ib, IN_SESSION, reprice_seconds=1))
    asyncio.run(repricer.run())
    repricer._looked.clear()  # the next look would come a second later
    asyncio.run(repricer.run())
    assert ib.placed == []
    assert [e.message for e in event_rows(engine, "K")] == [
        "reprice held: at the floor (LMT 1.20, natural 1.00, floor 1.20)"
    ]


@pytest.mark.parametrize(
    ("tws_now", "approved", "deadline", "why"),
    [
        (BEFORE_THE_CLOSE, timedelta(hours=1), 0, "cancelled: 5 min before the close (16:00 ET)"),
        (BEFORE_THE_OPEN, timedelta(minutes=31), 30, "cancelled: deadline "),  # any time of day
    ],
)
def test_cancels_say_why_on_the_order_and_the_intent(
    engine: Engine, tws_now: datetime, approved: timedelta, deadline: int, why: str
) -> None:
    add_order(engine, "K", None, utcnow() - approved)
    trade = option_trade("K", filled=0)
    ib = FakeIB(trade, {11: (1.00, 1.10)})
    repricer = Repricer(component(engine, ib, tws_now, deadline_minutes=deadline))
    asyncio.run(repricer.run())
    assert ib.cancelled == [trade.order] and ib.placed == []
    [event] = event_rows(engine, "K")
    assert event.message.startswith(why) and event.status == "PendingCancel"
    asyncio.run(repricer.run())  # PendingCancel: not cancelled twice
    assert len(ib.cancelled) == 1
    # TWS confirms: the executor's status handler ends the intent, then cancelledEvent fires
    with engine.begin() as conn:
        conn.execute(
            intents.update().where(intents.c.key == "K").values(status="cancelled", status_reason="x")
        )
    trade.orderStatus.status = "Cancelled"
    trade.cancelledEvent.emit(trade)
    assert one(engine, intents, "K").status_reason.startswith(why)
