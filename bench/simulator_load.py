"""Load benchmark of the TWS simulator: CPU use and message throughput while streaming option quotes.

``python bench/simulator_load.py [--clients 3] [--contracts 100] [--seconds 20]``

Starts ``python -m simulator`` (``--tick-interval 0.25`` and ``--speed 4``: every 0.25 s tick is a new
simulated second, so every quote can change 4 times per wall second: the worst case), connects ``--clients``
ib_async clients that each stream ``--contracts`` different option contracts (SPY, QQQ, AAPL chains near the
money), then measures over ``--seconds`` of wall time:

* the simulator process's CPU time (user + system, from ``/proc/<pid>/stat``) as a percentage of one core;
* messages per second received by all clients (ib_async's connection statistics), and quote updates per
  contract per second.

Target on the 2-core development machine: under 25 % of one core for 3 clients x 100 contracts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ib_async import IB, Option, Stock, Ticker

ROOT = Path(__file__).resolve().parent.parent
SYMBOLS = ("SPY", "QQQ", "AAPL")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_simulator(args: argparse.Namespace) -> tuple[subprocess.Popen[str], int]:
    """The simulator on a free port, in regular trading hours; returns (process, port)."""
    cmd = [
        sys.executable,
        "-m",
        "simulator",
        "--port",
        "0",
        "--start",
        args.start,
        "--speed",
        str(args.speed),
        "--tick-interval",
        str(args.tick_interval),
        "--log-level",
        "WARNING",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return proc, int(line.split("listening on ", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])


async def option_contracts(ib: IB, symbol: str, count: int) -> list[Option]:
    """``count`` listed options of ``symbol`` nearest the money (puts and calls, first expiries)."""
    [stock] = await ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD"))
    [ticker] = await ib.reqTickersAsync(stock)
    spot = ticker.marketPrice()
    params = [
        p for p in await ib.reqSecDefOptParamsAsync(symbol, "", "STK", stock.conId) if p.exchange == "SMART"
    ]
    out: list[Option] = []
    for expiry in sorted(params[0].expirations)[:4]:
        details = await ib.reqContractDetailsAsync(Option(symbol, expiry, 0, "", "SMART"))
        near = sorted(details, key=lambda d: abs(d.contract.strike - spot))
        out += [d.contract for d in near[: count // 2]]  # type: ignore[misc]
        if len(out) >= count:
            break
    return out[:count]


async def run(args: argparse.Namespace) -> None:
    proc, port = start_simulator(args)
    clients: list[IB] = []
    try:
        tickers: list[Ticker] = []
        for i in range(args.clients):
            ib = IB()
            await ib.connectAsync("127.0.0.1", port, clientId=900 + i, timeout=10)
            clients.append(ib)
            contracts = await option_contracts(ib, SYMBOLS[i % len(SYMBOLS)], args.contracts)
            tickers += [ib.reqMktData(c, "", False, False) for c in contracts]
        n = len(tickers)
        updates = [0]

        def count(batch: set[Ticker]) -> None:
            updates[0] += len(batch)

        for ib in clients:
            ib.pendingTickersEvent += count
        await asyncio.sleep(args.warmup)
        msgs0 = sum(ib.client.connectionStats().numMsgRecv for ib in clients)
        cpu0, wall0, upd0 = cpu_seconds(proc.pid), time.monotonic(), updates[0]
        await asyncio.sleep(args.seconds)
        cpu1, wall1, upd1 = cpu_seconds(proc.pid), time.monotonic(), updates[0]
        msgs1 = sum(ib.client.connectionStats().numMsgRecv for ib in clients)
        wall = wall1 - wall0
        print(f"simulator load: {args.clients} clients x {args.contracts} option contracts = {n} streams")
        print(
            f"  tick interval {args.tick_interval} s, clock speed {args.speed}x, measured over {wall:.1f} s"
        )
        print(f"  simulator CPU: {100 * (cpu1 - cpu0) / wall:.1f} % of one core (target < 25 %)")
        print(f"  messages to clients: {(msgs1 - msgs0) / wall:,.0f} per second")
        print(f"  messages per stream: {(msgs1 - msgs0) / wall / n:.1f} per second")
        print(f"  ticker update events: {(upd1 - upd0) / wall / n:.2f} per contract per second")
    finally:
        for ib in clients:
            ib.disconnect()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--contracts", type=int, default=100, help="option contracts streamed per client")
    p.add_argument("--seconds", type=float, default=20.0, help="measurement window (wall seconds)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds after subscribing before measuring")
    p.add_argument("--tick-interval", type=float, default=0.25, help="simulator --tick-interval (seconds)")
    p.add_argument("--speed", type=float, default=4.0, help="simulator --speed (4: a new price every tick)")
    p.add_argument("--start", default="2026-12-16T10:00", help="simulated start (ET), inside trading hours")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
