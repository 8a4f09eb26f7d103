"""The executor never sells a naked call: a ``sell_call`` intent not covered by shares held (less short calls
and call orders still working) is refused before TWS sees it, with the reason stored on the intent.

Real parts: the simulator over TCP, the executor as a process, one SQLite file. A test client (client 0,
which sees every client's orders, as in TWS) buys the shares and watches TWS's open orders.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, MarketOrder, Option, Stock
from procs import Proc, approve_intent, sim_and_db
from simproc import Sim
from sqlalchemy import Engine, select
from waiting import wait_for

from shared.db import schema_ready
from shared.schema import intents, orders


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Sim, Path, Engine]]:
    with sim_and_db(tmp_path) as (sim, engine):
        yield sim, tmp_path, engine


def approve_call(engine: Engine, key: str, call: Any, quantity: int, floor: float) -> None:
    """An approved ``sell_call`` intent, as the dashboard writes one."""
    approve_intent(engine, key, call, floor, kind="sell_call", quantity=quantity)


def intent_row(engine: Engine, key: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(intents).where(intents.c.key == key)).first()


def refs_at_tws(ib: IB) -> set[str]:
    ib.reqAllOpenOrders()
    ib.sleep(0.3)
    return {t.order.orderRef for t in ib.openTrades()}


def test_calls_are_sold_only_on_uncovered_shares(setup: tuple[Sim, Path, Engine]) -> None:
    sim, root, engine = setup
    monitor = Proc("monitor", root)  # creates the schema
    wait_for("the schema", lambda: schema_ready(engine))
    executor = Proc("executor", root)
    observer = sim.connect(client_id=0)
    try:
        details = observer.reqContractDetails(Option("KO", "", 0.0, "C", "SMART"))
        call = details[len(details) // 2].contract

        # 1. no shares at all: refused before TWS, the reason on the intent
        approve_call(engine, "TW-CC-NAKED", call, 1, floor=50.0)
        refused = wait_for(
            "the refusal",
            lambda: (
                (r := intent_row(engine, "TW-CC-NAKED"))
                and r.status != "approved"
                and r.status != "placing"
                and r
            ),
        )
        assert refused.status == "rejected"
        assert "not covered" in refused.status_reason and "0 held" in refused.status_reason
        assert "naked" in refused.status_reason
        with engine.connect() as conn:
            assert conn.execute(select(orders).where(orders.c.intent_key == "TW-CC-NAKED")).first() is None
        assert "TW-CC-NAKED" not in refs_at_tws(observer)

        # 2. 100 shares: one call is covered and rests at TWS (its floor is far above the market) ...
        stock = Stock("KO", "SMART", "USD")
        observer.qualifyContracts(stock)
        buy = observer.placeOrder(stock, MarketOrder("BUY", 100))
        wait_for("the shares", lambda: (observer.sleep(0.2), buy.orderStatus.status == "Filled")[1])
        approve_call(engine, "TW-CC-COVERED", call, 1, floor=50.0)
        wait_for("the covered call at TWS", lambda: "TW-CC-COVERED" in refs_at_tws(observer), 30)
        assert intent_row(engine, "TW-CC-COVERED").status == "working"

        # ... and a second one is not: the working order already covers the 100 shares
        approve_call(engine, "TW-CC-SECOND", call, 1, floor=50.0)
        second = wait_for(
            "the second refusal",
            lambda: (r := intent_row(engine, "TW-CC-SECOND")) and r.status == "rejected" and r,
        )
        assert "100 held" in second.status_reason and "1 working call order" in second.status_reason
        assert "TW-CC-SECOND" not in refs_at_tws(observer)
    finally:
        observer.disconnect()
        assert executor.stop() == 0
        assert monitor.stop() == 0
