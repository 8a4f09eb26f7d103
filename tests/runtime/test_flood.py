"""Bursts of requests against the simulator, which enforces IB's limits (100: > 50 messages/s; 162:
historical pacing; 322: > 50 open historical requests; 101: market-data lines).

In-process: a burst of 200 requests and a burst of historical requests for one contract, sent through
the connection manager, are all answered without 100 or 162 — while the same bursts without the
throttle and the pacer do draw 100 and 162 (so the simulator really enforces them). The scanner's chain
reader fits a symbol's 16 puts into a 5-line budget.

As a process: the scanner screens the whole default universe with a 6-line budget and logs none of
100, 101, 162 or 322.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from ib_async import IB, Stock
from procs import Proc, write_env
from runtime_helpers import manager
from simproc import Sim
from sqlalchemy import Engine, select
from waiting import wait_for

from scanner.chain import Pacing, read_puts
from shared.db import make_engine, schema_ready
from shared.pacing import LineBudget
from shared.schema import scans
from shared.strategy import Strategy

LIMIT_CODES = {100, 101, 162, 322}
#: The example configuration's universe (config/thetawheel.example.toml).
UNIVERSE = ["SPY", "QQQ", "AAPL", "AMZN", "NVDA", "TSLA", "KO", "F", "INTC", "PFE", "BAC", "T", "XOM"]
#: Eight different daily-bar requests for one contract (not the scanner's "3 M", read later).
DURATIONS = ["1 W", "2 W", "3 W", "1 M", "2 M", "4 M", "5 M", "6 M"]


def _codes(ib: IB) -> list[int]:
    codes: list[int] = []
    ib.errorEvent += lambda _req_id, code, _msg, _contract=None: codes.append(code)
    return codes


async def _unpaced_bursts(sim: Sim, stock: Stock) -> list[int]:
    """The same bursts from a client without throttle and pacer: the simulator answers 100 and 162."""
    raw = IB()
    raw.RaiseRequestErrors = False
    raw.client.MaxRequests = 0  # ib_async's throttle off
    codes = _codes(raw)
    await raw.connectAsync(sim.host, sim.port, clientId=999, timeout=5)
    try:
        for _ in range(120):
            raw.client.reqCurrentTime()
        await asyncio.sleep(1.2)  # let the rate window pass before the historical burst
        requests = (raw.reqHistoricalDataAsync(stock, "", d, "1 day", "TRADES", True) for d in DURATIONS)
        await asyncio.wait_for(asyncio.gather(*requests), 30)
    finally:
        raw.disconnect()
    return codes


def test_bursts_through_the_manager_stay_within_the_limits(sim: Sim, engine: Engine) -> None:
    async def main() -> tuple[list[int], list[int], float, float, LineBudget]:
        conn = manager(sim, engine, component="scanner")
        codes = _codes(conn.ib)
        await conn.connect()
        loop = asyncio.get_running_loop()
        try:
            [stock] = await conn.ib.qualifyContractsAsync(Stock("KO", "SMART", "USD"))
            started = loop.time()
            burst = asyncio.gather(*(conn.ib.reqContractDetailsAsync(stock) for _ in range(200)))
            details = await asyncio.wait_for(burst, 30)  # a request TWS dropped (100) would never end
            burst_seconds = loop.time() - started
            assert all(details), "every request of the burst is answered"

            async def bars(duration: str) -> Any:
                request = (stock.conId, duration)
                async with conn.historical.slot(stock.conId, request):
                    return await conn.ib.reqHistoricalDataAsync(stock, "", duration, "1 day", "TRADES", True)

            started = loop.time()
            all_bars = await asyncio.wait_for(asyncio.gather(*(bars(d) for d in DURATIONS)), 30)
            paced_seconds = loop.time() - started
            assert all(all_bars), "every historical request is answered"

            lines = LineBudget(5, "scanner")
            pacing = Pacing(lines, conn.historical, {})  # one historical pacer per process
            today = (await conn.current_time()).date()
            read = await read_puts(conn.ib, "KO", Strategy().put_rules("KO"), today, pacing)
            assert read is not None and read.contracts_checked > lines.capacity
            assert len(read.quotes) == read.contracts_checked
        finally:
            await conn.close()
        unpaced = await _unpaced_bursts(sim, stock)
        return codes, unpaced, burst_seconds, paced_seconds, lines

    codes, unpaced, burst_seconds, paced_seconds, lines = asyncio.run(main())
    assert not LIMIT_CODES & set(codes), f"IB limit errors through the manager: {codes}"
    assert burst_seconds > 4.0, "ib_async's throttle spread the 200 requests (≤ 40 per second)"
    assert paced_seconds > 2.0, "the pacer spread 8 requests for one contract (< 6 per 2 s)"
    assert lines.peak == lines.capacity and lines.in_use == 0, "quotes read in batches of 5 lines"
    assert {100, 162} <= set(unpaced), f"the simulator enforces the limits: {unpaced}"


def test_scanner_process_scans_the_universe_within_the_limits(sim: Sim, tmp_path: Path) -> None:
    db = write_env(
        tmp_path,
        sim.port,
        f"[universe]\nsymbols = {UNIVERSE!r}\n"
        "[schedule]\nscan_interval_seconds = 600\nheartbeat_seconds = 1\n",
        IBKR_LINES_SCANNER=6,
        TWS_RESTART_WINDOWS="",
    )
    monitor, scanner = Proc("monitor", tmp_path), Proc("scanner", tmp_path)
    engine = make_engine(f"sqlite:///{db}")
    log = tmp_path / "logs" / "scanner.log"
    try:

        def scan_done() -> Any:
            if not schema_ready(engine):
                return None
            with engine.connect() as conn:
                row = conn.execute(select(scans).where(scans.c.status != "running")).first()
            return row

        row = wait_for("a full scan", scan_done, timeout=90, alive=lambda: scanner.proc.poll() is None)
        assert (
            row.status == "done" and row.symbols == len(UNIVERSE) and row.contracts_checked > 6 * row.symbols
        )
        text = log.read_text()
        hits = re.findall(r"IB (\d+)\b", text)
        assert not LIMIT_CODES & {int(h) for h in hits}, [h for h in hits if int(h) in LIMIT_CODES]
    finally:
        engine.dispose()
        assert scanner.stop() == 0
        assert monitor.stop() == 0
