"""``--hours always``: outside regular hours the stock book keeps ticking (sizes move every second, prices
stay at the close), so a client that subscribes and then waits for a fresh tick gets one; ``--hours rth``
keeps the frozen after-close book."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from ib_async import Stock
from simproc import start_sim, stop_clean

from simulator.market import Market, StockQuote

SATURDAY = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)


def test_market_book_ticks_after_hours_only_when_asked() -> None:
    now = [SATURDAY]
    market = Market(seed=7, clock=lambda: now[0])
    frozen: list[StockQuote] = []
    ticking: list[StockQuote] = []
    for flag, out in ((False, frozen), (True, ticking)):
        market.ticks_after_hours = flag
        for i in range(6):
            now[0] = SATURDAY + timedelta(seconds=i + (10 if flag else 0))
            q = market.stock_quote("KO")
            out.append(q)
    assert len(set(frozen)) == 1  # the after-close book never changes by default
    assert len({(q.bid_size, q.ask_size) for q in ticking}) > 1
    assert {(q.bid, q.ask, q.last, q.close) for q in ticking} == {
        (frozen[0].bid, frozen[0].ask, frozen[0].last, frozen[0].close)
    }


def _updates_after_first(hours: str) -> int:
    sim = start_sim(178, "--start", "2026-12-05T11:00", hours=hours)
    try:
        ib = sim.connect()
        try:
            [ko] = ib.qualifyContracts(Stock("KO", "SMART", "USD"))
            ticker = ib.reqMktData(ko)
            end = time.monotonic() + 3
            while time.monotonic() < end and ticker.bid != ticker.bid:  # initial ticks
                ib.sleep(0.05)
            assert ticker.bid > 0 and ticker.last > 0
            ib.sleep(0.3)
            seen: list[int] = []
            ticker.updateEvent += lambda t: seen.append(len(t.ticks))
            ib.sleep(2.5)
            return len(seen)
        finally:
            ib.disconnect()
    finally:
        stop_clean(sim)


def test_stock_keeps_ticking_outside_hours_in_always_mode() -> None:
    assert _updates_after_first("always") >= 2


def test_rth_mode_keeps_the_after_close_book_frozen() -> None:
    assert _updates_after_first("rth") == 0
