"""TWS's daily restart, against the simulator's ``restart_window`` fault (every client dropped, connections
refused for a few seconds), with the manager's clock injected.

Inside a configured window (23:50 ET by the injected clock) the loss is logged once at INFO, the
heartbeat says ``restart-window``, no warning and no alert; the manager reconnects once TWS is back.
The same restart outside the window (noon ET) warns with the tips and raises one alert.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from runtime_helpers import fault, manager, states_during, until
from simproc import Sim
from sqlalchemy import Engine

#: 23:50 EST, inside the seeds' 23:45–00:15 window, and 12:00 EST, outside every window.
INSIDE = datetime(2026, 1, 15, 4, 50, tzinfo=UTC)
OUTSIDE = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)


def test_restart_window_is_waited_out_quietly(
    sim: Sim, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitor.ibconn")
    clock = {"now": INSIDE}
    alarms: list[str] = []

    async def main() -> tuple[list[str], list[str]]:
        conn = manager(
            sim,
            engine,
            now=lambda: clock["now"],
            alarms=alarms,
            TWS_RESTART_WINDOWS="23:45-00:15,05:45-06:15",
        )
        await conn.connect()
        try:

            async def restart() -> None:
                fault(sim, "restart_window", for_seconds=3)
                await until("the restart to be noticed", lambda: conn.state != "connected")
                await until("the reconnection after the window", lambda: conn.reconnects == 1)

            quiet = await states_during(conn, restart)
            assert conn.state == "connected" and conn.client_id == 10000
            inside_records = list(caplog.records)

            clock["now"] = OUTSIDE  # the same restart at noon is an outage

            async def outage() -> None:
                fault(sim, "restart_window", for_seconds=2)
                await until("the reconnection", lambda: conn.reconnects == 2)

            loud = await states_during(conn, outage)
        finally:
            await conn.close()
        assert not [r for r in inside_records if r.levelno >= logging.WARNING], "no warning inside the window"
        quiet_lines = [r.getMessage() for r in inside_records if r.levelno == logging.INFO]
        announce = "inside the TWS daily restart window 23:45–00:15 ET; waiting quietly"
        assert quiet_lines.count(announce) == 1, quiet_lines
        return quiet, loud

    quiet, loud = asyncio.run(main())
    assert quiet == ["connected", "restart-window", "connected"]
    assert "disconnected" in loud and "restart-window" not in loud and loud[-1] == "connected"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("the connection to TWS was lost" in w and "IB 504 tip:" in w for w in warnings)
    assert any("cannot connect to TWS" in w and "IB 502 tip:" in w for w in warnings)
    assert alarms == ["monitor cannot reach TWS"], "one alert for the outage, none for the restart window"
