"""A restarted executor never places the same intent twice.

Real parts: the simulator over TCP, the monitor and executor as processes, one SQLite file. The intent's
floor is far above the market, so its order rests at TWS unfilled while the executor is killed and
restarted — once with its database intact, once with the order row lost (as after restoring an older
backup): both times TWS ends up with exactly one order carrying the intent's orderRef.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB
from procs import Proc, approve_intent, ko_put, sim_and_db
from simproc import Sim
from sqlalchemy import Engine, delete, select, update
from waiting import wait_for

from shared.db import schema_ready
from shared.schema import intents, order_legs, orders

KEY = "TW-CSP-KO-TEST-RESTART"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Sim, Path, Engine]]:
    with sim_and_db(tmp_path) as (sim, engine):
        yield sim, tmp_path, engine


def _open_orders_with_ref(ib: IB, key: str) -> list[Any]:
    ib.reqAllOpenOrders()
    ib.sleep(0.5)
    return [t for t in ib.openTrades() if t.order.orderRef == key]


def _crash(proc: Proc) -> None:
    proc.signal(signal.SIGKILL)  # no clean shutdown
    proc.stop()


def test_restarted_executor_never_places_an_intent_twice(setup: tuple[Sim, Path, Engine]) -> None:
    sim, root, engine = setup
    monitor = Proc("monitor", root)
    executor = Proc("executor", root)
    observer = sim.connect(client_id=0)  # client 0 sees every client's orders, as in TWS
    try:
        put = ko_put(observer)
        wait_for("the schema", lambda: schema_ready(engine))
        approve_intent(engine, KEY, put, floor=50.0)

        def order_row() -> Any:
            with engine.connect() as conn:
                return conn.execute(select(orders).where(orders.c.intent_key == KEY)).first()

        first = wait_for(
            "the order to rest at TWS", lambda: (r := order_row()) and r.status == "Submitted" and r
        )
        assert first.limit_price == 50.0  # never below the intent's floor
        assert len(_open_orders_with_ref(observer, KEY)) == 1

        # 1. crash and restart with the database intact
        _crash(executor)
        executor = Proc("executor", root)
        log = root / "logs" / "executor.log"
        wait_for("the restarted executor", lambda: log.read_text().count("executor running") == 2)
        time.sleep(2)  # several poll cycles
        assert len(_open_orders_with_ref(observer, KEY)) == 1
        with engine.connect() as conn:
            assert len(conn.execute(select(orders).where(orders.c.intent_key == KEY)).all()) == 1

        # 2. crash, lose the order row (an older backup restored), intent approved again, restart
        _crash(executor)
        with engine.begin() as conn:
            conn.execute(delete(order_legs).where(order_legs.c.intent_key == KEY))
            conn.execute(delete(orders).where(orders.c.intent_key == KEY))
            conn.execute(update(intents).where(intents.c.key == KEY).values(status="approved"))
        executor = Proc("executor", root)
        adopted = wait_for("the order to be adopted", order_row)
        assert adopted.order_id == first.order_id  # the same TWS order, found by orderRef
        time.sleep(2)
        assert len(_open_orders_with_ref(observer, KEY)) == 1
        with engine.connect() as conn:
            status = conn.execute(select(intents.c.status).where(intents.c.key == KEY)).scalar_one()
        assert status == "working"
        assert "adopting it, not placing again" in log.read_text()
    finally:
        observer.disconnect()
        assert executor.stop() == 0
        assert monitor.stop() == 0
