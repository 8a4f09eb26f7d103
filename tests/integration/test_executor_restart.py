"""A restarted executor never places the same intent twice.

Real parts: the simulator over TCP, the monitor and executor as processes, one SQLite file. The intent's
floor is far above the market, so its order rests at TWS unfilled while the executor is killed and
restarted — once with its database intact, once with the order row lost (as after restoring an older
backup): both times TWS ends up with exactly one order carrying the intent's orderRef.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, Option
from simproc import Sim, start_sim, stop_sim
from sqlalchemy import Engine, delete, insert, select, update
from waiting import wait_for

from shared.db import make_engine, schema_ready, utcnow_iso
from shared.schema import intents, orders

KEY = "TW-CSP-KO-TEST-RESTART"


class Component:
    """``python -m <name>`` in a scratch folder with its own .env."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.out = (root / f"{name}.out").open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", name],
            cwd=root,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)  # a crash: no clean shutdown
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)
        self.out.close()
        return self.proc.returncode


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Sim, Path, Engine]]:
    sim = start_sim(178)
    db = tmp_path / "thetawheel.db"
    strategy = tmp_path / "thetawheel.toml"
    strategy.write_text(
        '[universe]\nsymbols = ["KO"]\n[schedule]\nmonitor_interval_seconds = 2\n'
        "executor_poll_seconds = 0.5\nheartbeat_seconds = 2\n"
    )
    (tmp_path / ".env").write_text(
        f"IBKR_PORT={sim.port}\nDATABASE_URL=sqlite:///{db}\nTHETAWHEEL_CONFIG={strategy}\nLOG_DIR=logs\n"
    )
    engine = make_engine(f"sqlite:///{db}")
    try:
        yield sim, tmp_path, engine
    finally:
        engine.dispose()
        stop_sim(sim)


def _ko_put(ib: IB) -> Any:
    details = ib.reqContractDetails(Option("KO", "", 0.0, "P", "SMART"))
    assert details, "the simulator lists KO puts"
    return details[len(details) // 2].contract


def _open_orders_with_ref(ib: IB, key: str) -> list[Any]:
    ib.reqAllOpenOrders()
    ib.sleep(0.5)
    return [t for t in ib.openTrades() if t.order.orderRef == key]


def test_restarted_executor_never_places_an_intent_twice(setup: tuple[Sim, Path, Engine]) -> None:
    sim, root, engine = setup
    monitor = Component("monitor", root)
    executor = Component("executor", root)
    observer = sim.connect(client_id=0)  # client 0 sees every client's orders, as in TWS
    try:
        put = _ko_put(observer)
        now = utcnow_iso()
        wait_for("the schema", lambda: schema_ready(engine))
        with engine.begin() as conn:
            conn.execute(
                insert(intents).values(
                    key=KEY,
                    source="dashboard",
                    kind="open_csp",
                    action="SELL",
                    sec_type="OPT",
                    symbol="KO",
                    con_id=put.conId,
                    local_symbol=put.localSymbol,
                    expiry=put.lastTradeDateOrContractMonth,
                    strike=put.strike,
                    right="P",
                    quantity=1,
                    limit_floor=50.0,
                    status="approved",
                    status_reason="",
                    created_at=now,
                    updated_at=now,
                )
            )

        def order_row() -> Any:
            with engine.connect() as conn:
                return conn.execute(select(orders).where(orders.c.intent_key == KEY)).first()

        first = wait_for(
            "the order to rest at TWS", lambda: (r := order_row()) and r.status == "Submitted" and r
        )
        assert first.limit_price == 50.0  # never below the intent's floor
        assert len(_open_orders_with_ref(observer, KEY)) == 1

        # 1. crash and restart with the database intact
        executor.kill()
        executor = Component("executor", root)
        wait_for(
            "the restarted executor",
            lambda: "executor running" in (root / "logs" / "executor.log").read_text(),
        )
        time.sleep(2)  # several poll cycles
        assert len(_open_orders_with_ref(observer, KEY)) == 1
        with engine.connect() as conn:
            assert len(conn.execute(select(orders).where(orders.c.intent_key == KEY)).all()) == 1

        # 2. crash, lose the order row (an older backup restored), intent approved again, restart
        executor.kill()
        with engine.begin() as conn:
            conn.execute(delete(orders).where(orders.c.intent_key == KEY))
            conn.execute(update(intents).where(intents.c.key == KEY).values(status="approved"))
        executor = Component("executor", root)
        adopted = wait_for("the order to be adopted", order_row)
        assert adopted.order_id == first.order_id  # the same TWS order, found by orderRef
        time.sleep(2)
        assert len(_open_orders_with_ref(observer, KEY)) == 1
        with engine.connect() as conn:
            status = conn.execute(select(intents.c.status).where(intents.c.key == KEY)).scalar_one()
        assert status == "submitted"
        assert "adopting it, not placing again" in (root / "logs" / "executor.log").read_text()
    finally:
        observer.disconnect()
        assert executor.stop() == 0
        assert monitor.stop() == 0
