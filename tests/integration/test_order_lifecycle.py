"""Orders a user can trust: a crash between recording an order and sending it does not leave the intent
stuck, a fill found only by reconciliation is recorded with its commission and alerted exactly once, and
a broker rejection ends the intent as ``rejected`` with a readable reason and an alert.

Real parts: the simulator over TCP (with its control port to move a price), the monitor and executor as
processes, one SQLite file.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, Option
from procs import Proc, approve_intent, ko_put, write_env
from runtime_helpers import session_start
from simproc import Sim, start_sim, stop_sim
from sqlalchemy import Engine, insert, select, update
from waiting import wait_for

from shared.db import make_engine, schema_ready, utcnow_iso
from shared.schema import alerts, fills, intents, orders

STRATEGY = (
    '[universe]\nsymbols = ["KO"]\n[schedule]\nmonitor_interval_seconds = 2\n'
    "executor_poll_seconds = 5\nheartbeat_seconds = 2\n"
)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Sim, Path, Engine, IB]]:
    sim = start_sim(178, "--start", session_start(), control=True)  # mid-session: far from the close
    engine = make_engine(f"sqlite:///{write_env(tmp_path, sim.port, STRATEGY)}")
    monitor = Proc("monitor", tmp_path)
    observer = sim.connect(client_id=0)  # client 0 sees every client's orders, as in TWS
    try:
        wait_for("the schema", lambda: schema_ready(engine))
        yield sim, tmp_path, engine, observer
    finally:
        observer.disconnect()
        assert monitor.stop() == 0
        engine.dispose()
        stop_sim(sim)


def intent(engine: Engine, key: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(intents).where(intents.c.key == key)).first()


def refs_at_tws(sim: Sim, key: str) -> int:
    """Orders working at TWS with this orderRef (the simulator's own books)."""
    return sum(1 for o in sim.state()["open_orders"] if o["order_ref"] == key)


def fill_alerts(engine: Engine, key: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(alerts).where(alerts.c.dedup_key == f"fill:{key}")).all()


def test_crash_between_recording_and_sending_is_placed_once(setup: tuple[Sim, Path, Engine, IB]) -> None:
    sim, root, engine, observer = setup
    key = "TW-CSP-KO-TEST-UNSENT"
    put = ko_put(observer)
    approve_intent(engine, key, put)
    now = utcnow_iso()
    with engine.begin() as conn:  # what a crash right after recording the order leaves behind
        conn.execute(update(intents).where(intents.c.key == key).values(status="placing"))
        conn.execute(
            insert(orders).values(
                intent_key=key, order_id=999, client_id=12000, action="SELL", order_type="LMT", quantity=1,
                limit_price=0.5, con_id=put.conId, symbol="KO", local_symbol=put.localSymbol,
                status="PendingSubmit", filled=0, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    executor = Proc("executor", root)
    try:
        row = wait_for(
            "the intent to fill", lambda: (r := intent(engine, key)) and r.status == "filled" and r, 60
        )
        assert row.status == "filled"
        with engine.connect() as conn:
            order = conn.execute(select(orders).where(orders.c.intent_key == key)).one()
        assert order.order_id != 999 and order.status == "Filled"  # placed again, once
        observer.reqExecutions()
        assert sum(1 for f in observer.fills() if f.execution.orderRef == key) == 1
        assert len(wait_for("the fill alert", lambda: fill_alerts(engine, key), 30)) == 1
    finally:
        assert executor.stop() == 0


def test_fill_found_by_reconciliation_is_alerted_once_with_commission(
    setup: tuple[Sim, Path, Engine, IB],
) -> None:
    sim, root, engine, observer = setup
    key = "TW-CSP-KO-TEST-AWAY"
    put = ko_put(observer)
    floor = round(put.strike / 2, 2)  # far above the market: the order rests
    approve_intent(engine, key, put, floor=floor)
    executor = Proc("executor", root)
    wait_for("the order resting at TWS", lambda: refs_at_tws(sim, key) == 1, 60)
    executor.signal(signal.SIGKILL)
    executor.stop()
    # the put is now worth 3/4 of its strike, far more than its limit: it fills
    sim.post("/market/KO", {"price": round(put.strike / 4, 2)})
    wait_for("the fill at TWS", lambda: refs_at_tws(sim, key) == 0, 60)
    executor = Proc("executor", root)
    try:
        row = wait_for(
            "the intent filled", lambda: (r := intent(engine, key)) and r.status == "filled" and r, 60
        )
        assert row is not None
        (alert,) = wait_for("the fill alert", lambda: fill_alerts(engine, key), 30)
        with engine.connect() as conn:
            (fill,) = conn.execute(select(fills).where(fills.c.intent_key == key)).all()
        assert fill.commission is not None and fill.commission >= 1.0
        assert f"Commission: ${fill.commission:.2f}" in alert.body
        assert alert.repeat_count == 1
        # a second reconciliation (a reconnection) finds the same fill and sends nothing more
        log = root / "logs" / "executor.log"
        before = log.read_text().count("reconciled")
        sim.post("/faults/drop_client", {"client_id": 12000})
        wait_for(
            "the reconciliation after the reconnection",
            lambda: log.read_text().count("reconciled") > before,
            60,
        )
        assert len(fill_alerts(engine, key)) == 1 and fill_alerts(engine, key)[0].repeat_count == 1
    finally:
        assert executor.stop() == 0


def test_broker_rejection_ends_the_intent_with_a_readable_reason(setup: tuple[Sim, Path, Engine, IB]) -> None:
    sim, root, engine, observer = setup
    key = "TW-CSP-SPY-TEST-MARGIN"
    details = observer.reqContractDetails(Option("SPY", "", 0.0, "P", "SMART"))
    put = details[len(details) // 2].contract
    # buying 1000 puts costs far more than the account holds; the risk gate lets a closing order through
    # (it checks opening orders against the account), so it is TWS that rejects it
    approve_intent(engine, key, put, kind="buy_to_close", action="BUY", quantity=1000)
    executor = Proc("executor", root)
    try:
        row = wait_for(
            "the rejection", lambda: (r := intent(engine, key)) and r.status == "rejected" and r, 60
        )
        assert row.status_reason.startswith("IB 201: order rejected")
        assert "MARGIN" not in row.status_reason  # TWS's raw capitals are not the reason
        with engine.connect() as conn:
            alert = conn.execute(select(alerts).where(alerts.c.dedup_key == f"reject:{key}")).one()
        assert "IB 201" in alert.body
    finally:
        assert executor.stop() == 0
