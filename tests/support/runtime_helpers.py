"""Helpers for the connection-manager tests: faults through the simulator's control interface, the
connection manager run in-process against the simulator with a real SQLite heartbeat, async polling."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import exchange_calendars
import pandas as pd
import pytest
from simproc import Sim
from sqlalchemy import Engine

from shared.heartbeat import Heartbeat
from shared.ibconn import IBConnection
from shared.settings import Settings


def session_start() -> str:
    """10:00 ET of the latest NYSE session: quotes move (they freeze outside regular trading hours)."""
    with warnings.catch_warnings():  # exchange_calendars' pandas deprecation notices
        warnings.simplefilter("ignore")
        calendar = exchange_calendars.get_calendar("XNYS")
        day = calendar.date_to_session(pd.Timestamp(datetime.now(UTC).date()), direction="previous")
    return f"{day.date().isoformat()}T10:00"


def fault(sim: Sim, name: str, **body: Any) -> dict[str, Any]:
    """``POST /faults/<name>`` with a JSON body; returns the simulator's state view."""
    return sim.post(f"/faults/{name}", body)


def manager(
    sim: Sim,
    engine: Engine,
    component: str = "monitor",
    now: Callable[[], datetime] | None = None,
    alarms: list[str] | None = None,
    **settings: Any,
) -> IBConnection:
    """A connection manager for ``component`` against the simulator (call inside the event loop).

    No restart windows unless given, so that a test run at 23:50 ET behaves like one at noon; an outage
    alerts at once."""
    values: dict[str, Any] = {
        "IBKR_PORT": sim.port,
        "TWS_RESTART_WINDOWS": "",
        "IBKR_CONNECT_TIMEOUT": 3,
        "IBKR_DISCONNECT_ALERT_SECONDS": 0,  # alert at the first failed attempt of an outage
    }
    values.update(settings)
    conn = IBConnection(
        Settings(_env_file=None, **values),  # type: ignore[call-arg]
        component,
        Heartbeat(engine, component),
        now=now,
        alarm=(lambda title, body: alarms.append(title)) if alarms is not None else None,
    )
    conn.ib.RaiseRequestErrors = False
    return conn


async def until(what: str, probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``probe`` every 50 ms until it returns something truthy; fail after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


async def states_during(conn: IBConnection, body: Callable[[], Awaitable[None]]) -> list[str]:
    """Run ``body`` while recording every state the connection publishes (in order, no repeats)."""
    seen: list[str] = [conn.state]
    original = conn.heartbeat.set

    def record(state: str, detail: str = "", client_id: int | None = None) -> None:
        if seen[-1] != state:
            seen.append(state)
        original(state, detail, client_id)

    conn.heartbeat.set = record  # type: ignore[method-assign]
    try:
        await body()
    finally:
        conn.heartbeat.set = original  # type: ignore[method-assign]
    return seen
