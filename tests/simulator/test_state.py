"""``--state FILE``: the account survives a simulator restart (clean or killed) with positions, open orders,
the day's executions, ids and the simulated clock.

Real parts: the simulator as a subprocess over TCP, restarted on the same state file; ib_async clients.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ib_async import IB, ComboLeg, Contract, LimitOrder, MarketOrder, Option, Stock
from simproc import Sim, start_sim, stop_sim

from simulator import state as state_file

CLIENT = 7


def wait(ib: IB, cond: Any, timeout: float = 6.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        ib.sleep(0.05)
    return bool(cond())


def book(ib: IB) -> dict[str, Any]:
    """What a client sees of the account: positions, its open orders, today's executions."""
    ib.reqOpenOrders()
    return {
        "positions": sorted((p.contract.conId, p.position, round(p.avgCost, 6)) for p in ib.positions()),
        "orders": sorted(
            (t.order.orderId, t.order.permId, t.order.orderRef, t.order.lmtPrice, t.orderStatus.status)
            for t in ib.openTrades()
        ),
        "executions": sorted(f.execution.execId for f in ib.reqExecutions()),
    }


def start(path: Path, *extra: str) -> Sim:
    return start_sim(178, "--state", str(path), *extra, hours="rth", control=True)


def test_state_survives_clean_and_crashed_restarts(tmp_path: Path) -> None:
    path = tmp_path / "sim-state.json"
    sim = start(path, "--start", "2026-12-16T10:00")
    ib = sim.connect(client_id=CLIENT)
    try:
        [ko] = ib.qualifyContracts(Stock("KO", "SMART", "USD"))
        [put] = ib.qualifyContracts(Option("KO", "20261218", 84, "P", "SMART"))
        fills = [ib.placeOrder(ko, MarketOrder("BUY", 100)), ib.placeOrder(put, MarketOrder("SELL", 1))]
        resting = ib.placeOrder(ko, LimitOrder("BUY", 50, 1.00, tif="GTC", orderRef="resting-gtc"))
        assert wait(ib, lambda: all(t.isDone() for t in fills) and resting.orderStatus.status == "Submitted")
        before = book(ib)
        cash = sim.state()["cash"]
        assert len(before["positions"]) == 2 and len(before["orders"]) == 1 and len(before["executions"]) == 2
    finally:
        ib.disconnect()
    assert stop_sim(sim) == 0
    saved = json.loads(path.read_text())
    assert saved["realtime"] is False and saved["clock"].startswith("2026-12-16T15:00")
    assert not list(tmp_path.glob(".sim-state.json.*"))  # the temporary file was renamed over

    # 1. clean restart: same account, same orders, clock resumes where it stopped
    sim = start(path)
    ib = sim.connect(client_id=CLIENT)
    try:
        assert book(ib) == before
        assert sim.state()["cash"] == cash
        now = ib.reqCurrentTime()
        assert datetime(2026, 12, 16, 15, 0, tzinfo=UTC) <= now < datetime(2026, 12, 16, 15, 2, tzinfo=UTC)
        assert ib.client.getReqId() > resting.order.orderId  # order ids go on, never reused
        ib.cancelOrder(ib.openTrades()[0].order)
        more = ib.placeOrder(ko, MarketOrder("BUY", 10))
        assert wait(ib, lambda: more.isDone() and not ib.openTrades())
        assert more.order.permId > resting.order.permId
        after = book(ib)
        ib.sleep(0.6)  # saved on the fill (the tick runs every 0.2 s)
    finally:
        ib.disconnect()
    sim.proc.send_signal(signal.SIGKILL)  # 2. a crash: no clean shutdown
    sim.proc.wait(10)

    sim = start(path)
    ib = sim.connect(client_id=CLIENT)
    try:
        assert book(ib) == after
        assert dict((c, q) for c, q, _ in after["positions"])[ko.conId] == 110
    finally:
        ib.disconnect()
        assert stop_sim(sim) == 0


def test_state_file_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    state_file.save(path, {"version": state_file.VERSION, "cash": 1.0})
    state_file.save(path, {"version": state_file.VERSION, "cash": 2.0})
    assert state_file.load(path) == {"version": state_file.VERSION, "cash": 2.0}
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]
    assert state_file.load(tmp_path / "missing.json") is None


def test_resting_combo_roll_survives_a_restart(tmp_path: Path) -> None:
    """A roll sent as one BAG order and still working is there again, legs and all, after a restart."""
    path = tmp_path / "sim-state.json"
    sim = start(path, "--start", "2026-12-16T10:00")
    ib = sim.connect(client_id=CLIENT)
    try:
        [old] = ib.qualifyContracts(Option("KO", "20261218", 84, "P", "SMART"))
        [new] = ib.qualifyContracts(Option("KO", "20270115", 84, "P", "SMART"))
        bag = Contract(
            secType="BAG",
            symbol="KO",
            exchange="SMART",
            currency="USD",
            comboLegs=[
                ComboLeg(conId=old.conId, ratio=1, action="BUY", exchange="SMART"),
                ComboLeg(conId=new.conId, ratio=1, action="SELL", exchange="SMART"),
            ],
        )
        roll = ib.placeOrder(
            bag, LimitOrder("BUY", 1, -20.0, tif="GTC", orderRef="roll-ko")
        )  # $20 credit: rests
        assert wait(ib, lambda: roll.orderStatus.status == "Submitted")
    finally:
        ib.disconnect()
    assert stop_sim(sim) == 0

    sim = start(path)
    ib = sim.connect(client_id=CLIENT)
    try:
        ib.reqOpenOrders()
        [trade] = [t for t in ib.openTrades() if t.order.orderRef == "roll-ko"]
        assert trade.contract.secType == "BAG" and trade.order.lmtPrice == -20.0
        assert [(leg.conId, leg.action) for leg in trade.contract.comboLegs] == [
            (old.conId, "BUY"),
            (new.conId, "SELL"),
        ]
    finally:
        ib.disconnect()
        assert stop_sim(sim) == 0
