"""The scanner sees the whole band, on the simulator over TCP: the scanner process's scan at start finds
every put that a brute-force read of the full simulated chain (every put of every expiry in the DTE window,
read by this test with ib_async) says passes the entry rules with a margin; a ``scan_now`` command row gets
a scan with trigger ``scan_now`` at once and is marked done; the running scan's progress ("symbol k of n")
is written and logged.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, Contract, Option, Stock
from procs import Proc, write_env
from simproc import Sim, start_sim, stop_sim
from sqlalchemy import Engine, insert, select
from waiting import wait_for

from scanner.chain import _quote
from scanner.preselect import expiries_in_window
from scanner.screen import screen_put
from shared.db import make_engine, schema_ready, utcnow_iso
from shared.marketcal import ET, XnysSessions
from shared.schema import commands, opportunities, scans
from shared.strategy import PutRules
from shared.trade import Right

SYMBOLS = ("KO", "AAPL")
# the history rules are off, the liquidity rules loose and the per-symbol cap high: the opportunities are
# every put of the band (the test is about coverage, not about the simulator's liquidity)
STRATEGY = """
[universe]
symbols = ["KO", "AAPL"]

[schedule]
scan_interval_seconds = 3600
heartbeat_seconds = 2

[puts]
max_candidates_per_symbol = 50
min_iv_rank = 0
min_iv_hv_ratio = 0
avoid_earnings = false
min_open_interest = 0
max_spread_pct = 0.5
min_annualized_return = 0.02
min_credit = 0.05
"""
RULES = PutRules(
    max_candidates_per_symbol=50,
    min_iv_rank=0,
    min_iv_hv_ratio=0,
    avoid_earnings=False,
    min_open_interest=0,
    max_spread_pct=0.5,
    min_annualized_return=0.02,
    min_credit=0.05,
)
# the reference keeps the puts that pass with a margin, so a quote that moved between the two reads of a
# contract on a rule's boundary does not decide the test
SAFE = RULES.model_copy(
    update={
        "delta_min": 0.16,
        "delta_max": 0.29,
        "min_annualized_return": RULES.min_annualized_return + 0.01,
        "max_spread_pct": RULES.max_spread_pct * 0.9,
        "min_credit": RULES.min_credit + 0.01,
    }
)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Sim, Path, Engine]]:
    sim = start_sim(178)
    engine = make_engine(f"sqlite:///{write_env(tmp_path, sim.port, STRATEGY, LOG_LEVEL='INFO')}")
    try:
        yield sim, tmp_path, engine
    finally:
        engine.dispose()
        stop_sim(sim)


def reference(ib: IB, symbol: str, today: date) -> tuple[set[int], int]:
    """Con ids of the puts that pass :data:`SAFE` on the full chain, and the expiries in the window."""
    stock = ib.qualifyContracts(Stock(symbol, "SMART", "USD"))[0]
    chain = ib.reqSecDefOptParams(symbol, "", "STK", stock.conId)[0]
    expiries = expiries_in_window(chain.expirations, today, RULES)
    contracts: list[Contract] = []
    for expiry in expiries:
        details = ib.reqContractDetails(Option(symbol, expiry, 0.0, "P", "SMART"))
        contracts.extend(d.contract for d in details if d.contract is not None)
    spot = ib.reqTickers(stock)[0].marketPrice()
    passing: set[int] = set()
    why: Counter[str] = Counter()
    for start in range(0, len(contracts), 80):  # the simulator streams at most 100 tickers at once
        batch = contracts[start : start + 80]
        tickers = [ib.reqMktData(c, "101", False, False) for c in batch]

        def complete(tickers: list[Any] = tickers) -> bool:
            ib.sleep(0.2)
            return all(t.modelGreeks is not None and t.putOpenInterest == t.putOpenInterest for t in tickers)

        try:
            wait_for(f"{symbol}'s chain, puts {start}+{len(batch)} of {len(contracts)}", complete, 60)
            for t in tickers:
                q = _quote(t, symbol, spot, Right.PUT)
                screened = screen_put(q, SAFE, today)
                if screened.passed:
                    passing.add(q.con_id)
                why.update(r.split(" ")[0] for r in screened.reasons)
        finally:
            for c in batch:
                ib.cancelMktData(c)
    print(symbol, len(contracts), "puts in the window:", dict(why))
    return passing, len(expiries)


def _scan(engine: Engine, **where: Any) -> Any:
    if not schema_ready(engine):
        return None
    with engine.connect() as conn:
        stmt = select(scans).where(scans.c.status == "done", *[scans.c[k] == v for k, v in where.items()])
        return conn.execute(stmt.order_by(scans.c.id.desc())).first()


@pytest.mark.timeout(300)
def test_scan_finds_the_whole_band_and_scans_now(setup: tuple[Sim, Path, Engine]) -> None:
    sim, root, engine = setup
    ib = sim.connect()
    monitor = scanner = None
    progress: set[str] = set()

    def first_scan() -> Any:
        if schema_ready(engine):
            with engine.connect() as conn:
                progress.update(r.progress for r in conn.execute(select(scans.c.progress)) if r.progress)
        return _scan(engine)

    try:
        monitor = Proc("monitor", root)  # creates the schema; the scanner waits for its heartbeat
        scanner = Proc("scanner", root)
        started = time.monotonic()
        scan = wait_for(
            "the scan at start",
            first_scan,
            200,
            interval=0.05,
            alive=lambda: scanner.proc.poll() is None,
            context=lambda: scanner.output()[-3000:],
        )
        scan_s = time.monotonic() - started
        assert scan.trigger == "start" and not scan.preview and scan.progress == ""
        today = ib.reqCurrentTime().astimezone(ET).date()
        with engine.connect() as conn:
            found = {
                r.con_id: r
                for r in conn.execute(select(opportunities).where(opportunities.c.scan_id == scan.id))
            }
        for symbol in SYMBOLS:
            want, n_expiries = reference(ib, symbol, today)
            assert want, f"the reference found no passing {symbol} put"
            print(f"{symbol}: {len(want)} passing puts in the reference")
            got = {c for c, r in found.items() if r.symbol == symbol}
            missed = want - got
            assert not missed, f"{symbol}: missed {len(missed)} of {len(want)} passing puts; {scan.detail}"
            expiries = {r.expiry for r in found.values() if r.symbol == symbol}
            assert len(expiries) <= n_expiries
        print(
            f"scan at start: {scan_s:.1f} s, {scan.contracts_checked} contracts checked, {len(found)} found"
        )

        log = (root / "logs" / "scanner.log").read_text()
        assert "symbol 1 of 2: KO" in log and "symbol 2 of 2: AAPL" in log
        assert progress & {"symbol 1 of 2: KO", "symbol 2 of 2: AAPL", "starting"}, progress

        with engine.begin() as conn:
            cmd_id = conn.execute(
                insert(commands)
                .values(kind="scan_now", actor="test", created_at=utcnow_iso(), status="pending", reason="")
                .returning(commands.c.id)
            ).scalar_one()
        now_scan = wait_for(
            "the scan_now scan",
            lambda: _scan(engine, trigger="scan_now"),
            120,
            alive=lambda: scanner.proc.poll() is None,
            context=lambda: scanner.output()[-3000:],
        )
        assert now_scan.id > scan.id and not now_scan.preview

        def command_done() -> Any:
            with engine.connect() as conn:
                row = conn.execute(select(commands).where(commands.c.id == cmd_id)).first()
            return row if row is not None and row.status == "done" else None

        done = wait_for("the scan_now command done", command_done, 10)
        assert done.done_at is not None
    finally:
        ib.disconnect()
        if scanner is not None:
            assert scanner.stop() == 0
        if monitor is not None:
            assert monitor.stop() == 0


@pytest.mark.timeout(200)
def test_scan_at_start_follows_the_market_calendar(tmp_path: Path) -> None:
    """With ``MARKET_HOURS=exchange`` the scan at start is a preview outside the NYSE's regular hours (by
    TWS's clock) and is not repeated; in regular hours it is a regular one."""
    sim = start_sim(178)
    engine = make_engine(f"sqlite:///{write_env(tmp_path, sim.port, STRATEGY, MARKET_HOURS='exchange')}")
    monitor = scanner = None
    try:
        ib = sim.connect()
        now = ib.reqCurrentTime()
        ib.disconnect()
        outside = XnysSessions().session_at(now) is None
        monitor = Proc("monitor", tmp_path)
        scanner = Proc("scanner", tmp_path)
        scan = wait_for(
            "the scan at start",
            lambda: _scan(engine),
            120,
            alive=lambda: scanner.proc.poll() is None,
            context=lambda: scanner.output()[-3000:],
        )
        assert (scan.trigger, bool(scan.preview)) == ("start", outside)
        if outside:
            time.sleep(8)  # a few of the scanner's looks at the calendar: no second preview
            with engine.connect() as conn:
                assert conn.execute(select(scans.c.id).where(scans.c.id != scan.id)).first() is None
    finally:
        if scanner is not None:
            assert scanner.stop() == 0
        if monitor is not None:
            assert monitor.stop() == 0
        engine.dispose()
        stop_sim(sim)
