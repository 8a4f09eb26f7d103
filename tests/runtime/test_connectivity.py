"""TWS ↔ IB connectivity (1100 / 1101 / 1102) and farm notices, against the simulator over TCP.

1100: the heartbeat turns ``degraded``. 1101 (restored, data lost: the simulator forgets every
subscription): the manager requests the stream again — a new request id — and ticks flow again; the
positions / orders / executions resync and the ``on_connected`` callbacks run. 1102 (data kept):
nothing is requested again. Every IB error line carries its tip.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from ib_async import IB, Option, Stock, Ticker
from runtime_helpers import fault, manager, states_during, until
from simproc import Sim
from sqlalchemy import Engine

from shared.heartbeat import last_beat
from shared.ibconn import IBConnection


def _req_id(conn: IBConnection, ticker: Ticker) -> int:
    return int(conn.ib.wrapper.ticker2ReqId["mktData"].get(ticker, 0))


async def _ticks_flow(ticker: Ticker, seconds: float = 1.5) -> bool:
    """True when the ticker receives updates within ``seconds``."""
    got = asyncio.Event()

    def on_update(_t: Ticker) -> None:
        got.set()

    ticker.updateEvent += on_update
    try:
        await asyncio.wait_for(got.wait(), seconds)
        return True
    except TimeoutError:
        return False
    finally:
        ticker.updateEvent -= on_update


def test_1100_degrades_1101_resubscribes_1102_keeps(
    sim: Sim, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def main() -> None:
        conn = manager(sim, engine)
        callbacks: list[str] = []

        async def on_connected(_ib: IB) -> None:
            callbacks.append("on_connected")

        conn.on_connected.append(on_connected)
        await conn.connect()
        try:
            assert conn.state == "connected" and set(conn.status.farms) == {"usfarm", "ushmds", "secdefnj"}
            details = await conn.ib.reqContractDetailsAsync(Option("KO", "", 0.0, "P", "SMART"))
            ticker = conn.subscribe(details[len(details) // 2].contract)
            assert await _ticks_flow(ticker), "the stream flows at first"
            first_id = _req_id(conn, ticker)

            # 1100: degraded, no market data while TWS has no link to IB
            fault(sim, "connectivity", code=1100)
            await until("degraded", lambda: conn.state == "degraded")
            assert last_beat(engine, "monitor")[0] == "degraded"  # type: ignore[index]
            assert "1100" in conn.heartbeat.detail

            # 1101: data lost → the stream is requested again (new request id) and flows again
            async def data_lost() -> None:
                fault(sim, "connectivity", code=1101)
                await until("resubscribed", lambda: _req_id(conn, ticker) not in (0, first_id))
                await until("callbacks after 1101", lambda: len(callbacks) == 2)

            assert await states_during(conn, data_lost) == ["degraded", "connected"]
            assert conn.ticker(ticker.contract) is ticker, "the same Ticker object keeps streaming"
            assert await _ticks_flow(ticker), "market data flows again after 1101"
            second_id = _req_id(conn, ticker)

            # 1100 then 1102: data kept → nothing is requested again
            fault(sim, "connectivity", code=1100)
            await until("degraded again", lambda: conn.state == "degraded")
            fault(sim, "connectivity", code=1102)
            await until("connected again", lambda: conn.state == "connected")
            assert await _ticks_flow(ticker), "the kept stream flows again after 1102"
            assert _req_id(conn, ticker) == second_id and len(callbacks) == 2

            # an error line carries its tip
            await conn.ib.qualifyContractsAsync(Stock("NOSUCHSYM", "SMART", "USD"))
        finally:
            await conn.close()

    asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "monitor.ibconn"]
    assert any(line.startswith("IB 1100") and "| tip: " in line for line in lines)
    assert any(line.startswith("IB 1101") and "resubscribes" in line for line in lines)
    assert any("after IB 1101 (data lost): 1 market-data streams requested again" in line for line in lines)
    assert any(line.startswith("IB 200") and "| tip: no security definition" in line for line in lines)
    assert all("| tip: " in line for line in lines if line.startswith("IB "))
