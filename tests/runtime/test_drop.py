"""A dropped connection, with the monitor and the executor as real processes against the simulator.

TWS drops both clients and refuses connections for 4 s. Each process logs the loss with the 504 tip
and every failed attempt with the 502 tip, its heartbeat shows ``disconnected``, then it reconnects by
itself with the same client id. After the reconnect the monitor's greeks stream is back (the delta of
the position it held keeps changing), and the executor records the fill of an order it placed before
the drop that filled while it was away, from the executions TWS reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from procs import Proc, approve_intent, heartbeat, ko_put, write_env
from runtime_helpers import fault, session_start
from simproc import Sim, start_sim, stop_sim
from sqlalchemy import Engine, select
from waiting import wait_for

from shared.db import make_engine, schema_ready
from shared.schema import alerts, fills, intents, orders, positions

STRATEGY = (
    '[universe]\nsymbols = ["KO"]\n'
    "[schedule]\nmonitor_interval_seconds = 1\nexecutor_poll_seconds = 0.5\nheartbeat_seconds = 1\n"
)


@pytest.fixture
def slow_fills() -> Iterator[Sim]:
    """Orders rest 3 s before they fill, so that one can fill while the executor is away."""
    s = start_sim(178, "--start", session_start(), "--fill-delay", "3", limits=True, control=True)
    try:
        yield s
    finally:
        stop_sim(s)


def _beat(engine: Engine, component: str) -> Any:
    return heartbeat(engine, component) if schema_ready(engine) else None


def _one(engine: Engine, query: Any) -> Any:
    if not schema_ready(engine):
        return None
    with engine.connect() as conn:
        return conn.execute(query).first()


def test_monitor_and_executor_reconnect_and_resynchronise(slow_fills: Sim, tmp_path: Path) -> None:
    sim = slow_fills
    db = write_env(tmp_path, sim.port, STRATEGY, TWS_RESTART_WINDOWS="", IBKR_DISCONNECT_ALERT_SECONDS=1)
    monitor, executor = Proc("monitor", tmp_path), Proc("executor", tmp_path)
    engine = make_engine(f"sqlite:///{db}")
    observer = sim.connect(client_id=777)
    try:
        put_a, put_b = ko_put(observer), ko_put(observer, offset=2)
        wait_for("the executor", lambda: (b := _beat(engine, "executor")) and b.state == "connected")

        approve_intent(engine, "TW-DROP-A", put_a)
        wait_for("A filled", lambda: _one(engine, select(intents).where(intents.c.status == "filled")))
        held = select(positions).where(positions.c.con_id == put_a.conId, positions.c.delta.is_not(None))
        wait_for("the monitor's delta of A", lambda: _one(engine, held), timeout=15)

        approve_intent(engine, "TW-DROP-B", put_b)
        wait_for(
            "B resting at TWS", lambda: _one(engine, select(orders).where(orders.c.intent_key == "TW-DROP-B"))
        )
        fault(sim, "refuse", for_seconds=4)
        fault(sim, "drop_client", client_id=10000)
        fault(sim, "drop_client", client_id=12000)
        for name in ("monitor", "executor"):
            wait_for(f"{name} disconnected", lambda n=name: heartbeat(engine, n).state == "disconnected", 5)
        for name, client_id in (("monitor", 10000), ("executor", 12000)):
            beat = wait_for(
                f"{name} back", lambda n=name: (b := heartbeat(engine, n)).state == "connected" and b
            )
            assert beat.client_id == client_id

        # the executor: B filled at TWS while it was away; its fill is recorded after the reconnect
        b_filled = select(intents).where(intents.c.key == "TW-DROP-B", intents.c.status == "filled")
        wait_for("B's fill recorded", lambda: _one(engine, b_filled))
        assert _one(engine, select(fills).where(fills.c.intent_key == "TW-DROP-B")) is not None

        # the monitor: the greeks stream of A was requested again, so A's delta keeps changing
        deltas: set[float] = set()

        def delta_moves() -> bool:
            deltas.add(_one(engine, select(positions.c.delta).where(positions.c.con_id == put_a.conId))[0])
            return len(deltas) >= 3

        wait_for("A's delta to keep updating", delta_moves, timeout=15, interval=0.5)

        with engine.connect() as conn:
            titles = conn.execute(select(alerts.c.title).where(alerts.c.category == "connection")).scalars()
            assert set(titles) == {"monitor cannot reach TWS", "executor cannot reach TWS"}
    finally:
        observer.disconnect()
        engine.dispose()
        codes = [executor.stop(), monitor.stop()]
    assert codes == [0, 0]
    for name in ("monitor", "executor"):
        text = (tmp_path / "logs" / f"{name}.log").read_text()
        assert "the connection to TWS was lost" in text and "| IB 504 tip: " in text
        assert "cannot connect to TWS" in text and "| IB 502 tip: " in text
        assert f"reconnected to TWS 127.0.0.1:{sim.port} as client id" in text
    monitor_log = (tmp_path / "logs" / "monitor.log").read_text()
    assert re.search(r"after the reconnect: [1-9]\d* market-data streams requested again", monitor_log)
