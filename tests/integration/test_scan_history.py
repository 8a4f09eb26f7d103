"""The history entry rules through real processes: the simulator over TCP, the scanner as a process, one
SQLite file.

Two scans run back to back. The first reads each symbol's daily bars (IV, HV, TRADES) with
reqHistoricalData and caches them in ``daily_bars``; the second reads none (``bar_fetches``: once per
trading day). Every opportunity carries its symbol's IV rank, IV/HV, HV, next earnings date, SMA200 and
RSI(14); none expires across the next earnings date of the shipped file (or within 14 days before it);
every symbol read has a ``scan_symbols`` row with the same figures and the contracts each rule removed.
When the simulator serves no IV bars, the scan's notes say the IV rules were skipped instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from procs import Proc, write_env
from simproc import Sim, start_sim, stop_sim
from sqlalchemy import Engine, select
from waiting import wait_for

from scanner.earnings import shipped_dates
from scanner.history import HV, IV, TRADES
from scanner.historyrules import earnings_cutoff, next_earnings
from shared.db import make_engine, schema_ready
from shared.marketcal import ET
from shared.schema import bar_fetches, daily_bars, opportunities, scan_symbols, scans

SYMBOLS = ("KO", "AAPL")
STRATEGY = """
[universe]
symbols = ["KO", "AAPL"]

[schedule]
scan_interval_seconds = 5
heartbeat_seconds = 2

[puts]
min_iv_rank = 0.01          # low bars, so that the test has opportunities to look at
min_iv_hv_ratio = 0.01
rsi_filter = true           # reads the TRADES bars too; RSI(14) < 100 removes nothing
max_rsi14 = 100
"""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Sim, Path, Engine]]:
    sim = start_sim(178)
    db = write_env(tmp_path, sim.port, STRATEGY, TWS_RESTART_WINDOWS="", EARNINGS_YFINANCE="false")
    engine = make_engine(f"sqlite:///{db}")
    try:
        yield sim, tmp_path, engine
    finally:
        engine.dispose()
        stop_sim(sim)


def _done_scans(engine: Engine) -> list[Any]:
    if not schema_ready(engine):
        return []
    with engine.connect() as conn:
        return list(conn.execute(select(scans).where(scans.c.status != "running").order_by(scans.c.id)))


def _rows(engine: Engine, table: Any, *where: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(table).where(*where)))


@pytest.mark.timeout(300)
def test_scan_caches_bars_once_a_day_and_stores_the_figures(setup: tuple[Sim, Path, Engine]) -> None:
    sim, root, engine = setup
    ib = sim.connect()
    monitor = scanner = None
    try:
        today = ib.reqCurrentTime().astimezone(ET).date()
        monitor = Proc("monitor", root)  # creates the schema; the scanner waits for its heartbeat
        scanner = Proc("scanner", root)
        wait_for(
            "two finished scans",
            lambda: len(_done_scans(engine)) >= 2,
            200,
            alive=lambda: scanner.proc.poll() is None,
            context=lambda: scanner.output()[-3000:],
        )
        first, second = _done_scans(engine)[:2]
        assert first.status == "done", first.detail
        assert second.status == "done", second.detail

        fetches = {(r.symbol, r.what): r for r in _rows(engine, bar_fetches)}
        assert set(fetches) == {(s, w) for s in SYMBOLS for w in (IV, HV, TRADES)}
        for r in fetches.values():
            assert r.trading_day == today.isoformat()
            assert r.fetched_at <= first.finished_at  # none fetched again by the second scan
        log = (root / "logs" / "scanner.log").read_text()
        assert log.count("daily bars read") == len(fetches), log[-3000:]
        closes = _rows(engine, daily_bars, daily_bars.c.symbol == "AAPL", daily_bars.c.what == TRADES)
        assert len(closes) >= 200  # enough for the SMA200

        iv_served = all(fetches[(s, IV)].bars > 0 for s in SYMBOLS)
        opps = _rows(engine, opportunities, opportunities.c.scan_id == first.id)
        symbol_rows = {r.symbol: r for r in _rows(engine, scan_symbols, scan_symbols.c.scan_id == first.id)}
        assert set(symbol_rows) == set(SYMBOLS), first.detail
        for r in symbol_rows.values():
            print(dict(r._mapping))  # shown with -s: the figures and removals of each symbol
        for symbol in SYMBOLS:
            nxt = next_earnings([d for d, _ in shipped_dates()[symbol]], today)
            assert nxt is not None
            row = symbol_rows[symbol]
            assert row.next_earnings == nxt.isoformat()
            assert row.rsi14 is not None and 0 <= row.rsi14 <= 100
            assert row.sma200 is not None and row.sma200 > 0
            cutoff = earnings_cutoff(nxt, 14)
            for r in opps:
                if r.symbol == symbol:
                    assert date(int(r.expiry[:4]), int(r.expiry[4:6]), int(r.expiry[6:])) < cutoff, r
                    assert r.next_earnings == nxt.isoformat()
                    assert r.rsi14 == pytest.approx(row.rsi14) and r.sma200 == pytest.approx(row.sma200)
            if today + timedelta(days=45) >= cutoff and row.contracts_checked:
                assert "earnings" in row.removed, row  # an expiry of the window lies across earnings
            if row.candidates == 0:
                assert row.note, row  # every symbol passed over says why
            if iv_served:
                assert row.iv_rank is not None and 0 <= row.iv_rank <= 1, row
                assert row.iv_hv_ratio == pytest.approx(row.iv / row.hv)
            else:
                assert "IV rank rule skipped" in row.note
        assert opps, first.detail
        for r in opps:
            if iv_served:
                assert r.iv_rank is not None and r.iv_hv_ratio is not None and r.hv is not None
            else:
                assert r.iv_rank is None
    finally:
        ib.disconnect()
        if scanner is not None:
            assert scanner.stop() == 0
        if monitor is not None:
            assert monitor.stop() == 0
