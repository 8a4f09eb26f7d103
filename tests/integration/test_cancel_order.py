"""A working order cancelled from the dashboard: the Cancel button writes a ``cancel_order`` command; the
executor claims it, cancels the order at TWS, and the intent ends ``cancelled`` with who asked for it.

Real parts: the simulator over TCP, the monitor and executor as processes, one SQLite file; the command is
written by the dashboard's own code (:func:`dashboard.cancel.cancel_order`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from procs import Proc, approve_intent, ko_put, write_env
from runtime_helpers import session_start
from simproc import Sim, start_sim, stop_sim
from sqlalchemy import Engine, select
from waiting import wait_for

from dashboard.cancel import cancel_order
from dashboard.errors import ActionError
from shared.db import make_engine, schema_ready
from shared.schema import commands, intents, order_events, orders

STRATEGY = (
    '[universe]\nsymbols = ["KO"]\n[schedule]\nmonitor_interval_seconds = 2\n'
    "executor_poll_seconds = 1\nheartbeat_seconds = 2\n[orders]\ndeadline_minutes = 240\n"
)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Sim, Path, Engine]]:
    sim = start_sim(178, "--start", session_start(), control=True)  # mid-session: far from the close
    engine = make_engine(f"sqlite:///{write_env(tmp_path, sim.port, STRATEGY)}")
    monitor = Proc("monitor", tmp_path)
    try:
        wait_for("the schema", lambda: schema_ready(engine))
        yield sim, tmp_path, engine
    finally:
        assert monitor.stop() == 0
        engine.dispose()
        stop_sim(sim)


def row(engine: Engine, table: Any, **where: Any) -> Any:
    with engine.connect() as conn:
        stmt = select(table).where(*[table.c[k] == v for k, v in where.items()])
        return conn.execute(stmt.order_by(table.c[next(iter(table.c.keys()))].desc())).first()


def at_tws(sim: Sim, key: str) -> int:
    return sum(1 for o in sim.state()["open_orders"] if o["order_ref"] == key)


def test_a_working_order_is_cancelled_from_the_dashboard(setup: tuple[Sim, Path, Engine]) -> None:
    sim, root, engine = setup
    observer = sim.connect(client_id=0)
    try:
        put = ko_put(observer)
    finally:
        observer.disconnect()
    executor = Proc("executor", root)
    try:
        key = "tw-cancel-1"
        approve_intent(engine, key, put, floor=50.0)  # a credit far above the market: the order rests
        wait_for("the order working at TWS", lambda: at_tws(sim, key) == 1, timeout=30)
        wait_for("the intent working", lambda: row(engine, intents, key=key).status == "working")
        order = row(engine, orders, intent_key=key)

        command = cancel_order(engine, order.id, "dashboard 127.0.0.1", "changed my mind")
        assert command["kind"] == "cancel_order" and command["intent_key"] == key
        with pytest.raises(ActionError) as twice:  # a second click while the first waits writes nothing
            cancel_order(engine, order.id, "dashboard 127.0.0.1")
        assert twice.value.status == 409

        wait_for("the order gone from TWS", lambda: at_tws(sim, key) == 0, timeout=30)
        wait_for("the intent cancelled", lambda: row(engine, intents, key=key).status == "cancelled")
        wait_for(
            "the reason on the intent",
            lambda: (
                "cancelled from the dashboard by dashboard 127.0.0.1: changed my mind"
                in row(engine, intents, key=key).status_reason
            ),
        )
        assert row(engine, commands, id=command["id"]).status == "done"
        assert row(engine, order_events, intent_key=key, status="PendingCancel") is not None
        with pytest.raises(ActionError) as late:  # nothing left to cancel
            cancel_order(engine, order.id, "dashboard 127.0.0.1")
        assert late.value.status == 409
    finally:
        assert executor.stop() == 0
