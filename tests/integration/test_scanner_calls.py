"""Covered calls through real processes: the simulator over TCP, the monitor and the scanner as
processes, one SQLite file.

An ib_async client buys 200 KO shares (a universe symbol) and sells one KO call against them, and buys
100 PFE shares (not in the universe). The monitor records the positions; then the scanner's scan offers
covered calls on both — one uncovered lot each, strikes at or above the shares' cost basis — and no new
puts on KO, while the rest of the universe still gets its puts, ranked in the same scan.

The simulator runs on the real date, so the call rules that depend on it are set for any day: the earnings
rule is off (it removes every expiry of the DTE window for about five weeks before each report — PFE from
2026-12-21 to 2027-01-26 — and is tested in test_scan_history.py), and so is the open-interest minimum, and
the spread cap is 25 % of mid: PFE trades near $17 with $0.50 strikes, so its calls in the delta band cost
$0.15-0.35 and quote one to three cents wide, and by the default 10 % cap they pass or fail with the second
the quotes are read. Sampled over the simulator's next year these rules leave at least 3 PFE and 4 KO calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, MarketOrder, Option, Stock, Trade
from procs import Proc, write_env
from simproc import Sim, start_sim, stop_sim
from sqlalchemy import Engine, select
from waiting import wait_for

from scanner.store import read_holdings
from shared.db import make_engine, schema_ready
from shared.schema import opportunities, positions, scan_symbols, scans

STRATEGY = """
[universe]
symbols = ["KO", "AAPL"]

[schedule]
monitor_interval_seconds = 2
scan_interval_seconds = 600
heartbeat_seconds = 2

[calls]
# on any date, at any second (see the module docstring): calls are offered whatever the earnings calendar
# and the simulator's one-cent quotes on PFE's cheap calls
avoid_earnings = false
min_open_interest = 0
max_spread_pct = 0.25
"""
MAX_SPREAD = 0.25


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Sim, Path, Engine]]:
    sim = start_sim(178)
    engine = make_engine(f"sqlite:///{write_env(tmp_path, sim.port, STRATEGY, TWS_RESTART_WINDOWS='')}")
    try:
        yield sim, tmp_path, engine
    finally:
        engine.dispose()
        stop_sim(sim)


def _fill(ib: IB, contract: Any, action: str, quantity: int) -> Trade:
    trade = ib.placeOrder(contract, MarketOrder(action, quantity))

    def done() -> bool:
        ib.sleep(0.1)  # let ib_async read the order's status messages
        return trade.isDone()

    wait_for(f"{action} {quantity} {contract.localSymbol}", done)
    assert trade.orderStatus.status == "Filled", trade.log
    return trade


def _otm_call(ib: IB, stock: Any, spot: float) -> Any:
    """A listed KO call of the first expiry, a few strikes above the spot."""
    chains = ib.reqSecDefOptParams("KO", "", "STK", stock.conId)
    expiry = sorted(chains[0].expirations)[0]
    details = ib.reqContractDetails(Option("KO", expiry, 0.0, "C", "SMART"))
    above = sorted((d.contract for d in details if d.contract.strike > spot), key=lambda c: c.strike)
    return above[min(2, len(above) - 1)]


def _held(engine: Engine) -> dict[tuple[str, str, str | None], float]:
    if not schema_ready(engine):
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(positions.c.symbol, positions.c.sec_type, positions.c.right, positions.c.quantity)
        )
    return {(r.symbol, r.sec_type, r.right): r.quantity for r in rows}


def _symbol_rows(engine: Engine, scan_id: int, symbol: str) -> str:
    """The scan's ``scan_symbols`` rows of ``symbol``: per right, what was read, the contracts each rule
    removed and the note saying why there is no candidate (a failure's explanation)."""
    c = scan_symbols.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(scan_symbols).where(c.scan_id == scan_id, c.symbol == symbol).order_by(c.right)
        ).all()
    lines = [
        f"{r.symbol} {r.right}: {r.expiries} expiries, {r.contracts_checked} checked, "
        f"{r.candidates} candidates; removed: {r.removed or '-'}; note: {r.note or '-'}"
        for r in rows
    ]
    return "\n".join(lines) or f"no scan_symbols row for {symbol}"


@pytest.mark.timeout(240)
def test_scanner_offers_covered_calls_on_held_shares(setup: tuple[Sim, Path, Engine]) -> None:
    sim, root, engine = setup
    ib = sim.connect()
    monitor = scanner = None
    try:
        ko, pfe = ib.qualifyContracts(Stock("KO", "SMART", "USD"), Stock("PFE", "SMART", "USD"))
        bought = _fill(ib, ko, "BUY", 200)
        _fill(ib, pfe, "BUY", 100)
        ko_price = bought.orderStatus.avgFillPrice
        _fill(ib, _otm_call(ib, ko, ko_price), "SELL", 1)  # covers one of KO's two lots

        monitor = Proc("monitor", root)
        expected = {("KO", "STK", None): 200, ("KO", "OPT", "C"): -1, ("PFE", "STK", None): 100}
        wait_for(
            "the monitor's positions",
            lambda: _held(engine) == expected,
            60,
            alive=lambda: monitor.proc.poll() is None,
            context=lambda: f"{_held(engine)}\n{monitor.output()[-2000:]}",
        )

        scanner = Proc("scanner", root)  # its first scan starts once connected, after the positions

        def finished_scan() -> Any:
            with engine.connect() as conn:
                return conn.execute(select(scans).where(scans.c.status != "running")).first()

        scan = wait_for(
            "the first scan",
            finished_scan,
            150,
            alive=lambda: scanner.proc.poll() is None,
            context=lambda: scanner.output()[-3000:],
        )
        assert scan.status == "done", scan.detail
        with engine.connect() as conn:
            rows = conn.execute(
                select(opportunities).where(opportunities.c.scan_id == scan.id).order_by(opportunities.c.rank)
            ).all()

        holdings = read_holdings(engine)
        assert holdings["KO"].uncovered_lots == 1 and holdings["PFE"].uncovered_lots == 1
        for symbol in ("KO", "PFE"):
            calls = [r for r in rows if r.symbol == symbol]
            assert calls, (
                f"no covered calls for {symbol}:\n{_symbol_rows(engine, scan.id, symbol)}\n{scan.detail}"
            )
            basis = holdings[symbol].cost_basis
            assert basis is not None
            for r in calls:
                assert (r.strategy, r.right, r.max_contracts) == ("CC", "C", 1)
                assert r.cost_basis == pytest.approx(basis)
                assert r.strike >= r.cost_basis
                assert r.collateral == pytest.approx(r.cost_basis * 100)
                assert 0.20 <= r.delta <= 0.35 and 21 <= r.dte <= 45 and r.annualized_return >= 0.05
                assert r.credit >= 0.10 and r.spread_pct <= MAX_SPREAD + 1e-9
        # the cost basis is the price paid, commissions included (TWS's average cost or the wheel cycle)
        assert holdings["KO"].cost_basis == pytest.approx(ko_price, rel=0.02)

        assert not [r for r in rows if r.symbol == "KO" and r.strategy == "CSP"]
        assert "KO: 200 shares held, no new puts" in scan.detail
        assert {r.strategy for r in rows if r.symbol == "AAPL"} <= {"CSP"}  # puts for the unheld symbol
        assert [r.rank for r in rows] == list(range(1, len(rows) + 1))  # one ranking across the scan
        assert scan.candidates == len(rows)

        log = (root / "logs" / "scanner.log").read_text()
        assert "PFE: 100 shares, 1 uncovered lot(s)" in log
    finally:
        ib.disconnect()
        if scanner is not None:
            assert scanner.stop() == 0
        if monitor is not None:
            assert monitor.stop() == 0
