"""A half-dead socket: the simulator keeps the connection open but answers every request 30 s late.

The manager's probe (reqCurrentTime every second here, 1.5 s to answer) notices, logs the 504 tip,
drops the connection and reconnects — with backoff while the delay lasts, at once when it is cleared
— and the market-data stream it had registered flows again.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from ib_async import Option, Ticker
from runtime_helpers import fault, manager, until
from simproc import Sim
from sqlalchemy import Engine

from shared.heartbeat import last_beat


def test_probe_detects_a_half_dead_socket_and_reconnects(
    sim: Sim, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.ibconn")

    async def main() -> None:
        conn = manager(sim, engine, IBKR_PROBE_INTERVAL=1, IBKR_PROBE_TIMEOUT=1.5, IBKR_CONNECT_TIMEOUT=2)
        await conn.connect()
        try:
            details = await conn.ib.reqContractDetailsAsync(Option("KO", "", 0.0, "P", "SMART"))
            contract = details[len(details) // 2].contract
            conn.subscribe(contract)
            await asyncio.sleep(2.5)  # two probes answered in time: nothing happens
            assert conn.state == "connected" and conn.reconnects == 0

            fault(sim, "delay", seconds=30, for_seconds=60)
            await until("the probe to drop the connection", lambda: conn.state != "connected", timeout=5)
            assert last_beat(engine, "monitor")[0] in ("disconnected", "connecting")  # type: ignore[index]
            await asyncio.sleep(3)  # reconnection attempts time out while TWS stays slow
            assert conn.reconnects == 0
            fault(sim, "clear")
            await until("the reconnection", lambda: conn.state == "connected", timeout=15)
            assert conn.reconnects == 1
            ticker = conn.ticker(contract)
            assert ticker is not None
            updated = asyncio.Event()

            def on_update(_t: Ticker) -> None:
                updated.set()

            ticker.updateEvent += on_update
            await asyncio.wait_for(updated.wait(), 3)  # the registered stream was requested again
            await until(  # positions, orders and executions re-read after the stream (slow under load)
                "the resynchronisation",
                lambda: any("streams requested again" in r.getMessage() for r in caplog.records),
                timeout=15,
            )
        finally:
            await conn.close()

    asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records]
    assert any(
        "TWS did not answer a probe within 1.5 s (half-dead connection)" in line and "IB 504 tip:" in line
        for line in lines
    ), lines
    assert any("reconnected to TWS" in line for line in lines)
    assert any("after the reconnect: 1 market-data streams requested again" in line for line in lines)
