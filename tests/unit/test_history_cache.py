"""The daily-bar cache (scanner.history): the duration asked for, once per trading day, pruning, and a
series TWS does not serve — with a stand-in for ib_async's reqHistoricalDataAsync."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

from ib_async import IB, Stock
from sqlalchemy import create_engine, func, select, update

from scanner.history import HV, IV, TRADES, BarCache, duration_for, needed_series
from shared.pacing import HistoricalPacer
from shared.schema import bar_fetches, daily_bars, metadata
from shared.strategy import CallRules, PutRules

TODAY = date(2026, 12, 3)


@dataclass
class Bar:
    date: date
    close: float


class FakeIB:
    """Answers reqHistoricalDataAsync with one bar per calendar day of the duration (or none)."""

    def __init__(self, serve: bool = True) -> None:
        self.calls: list[tuple[str, str]] = []
        self.serve = serve

    async def reqHistoricalDataAsync(
        self, contract: Any, end: str, duration: str, *args: Any, **kw: Any
    ) -> list[Bar]:
        what = args[1]
        self.calls.append((what, duration))
        if not self.serve:
            return []
        n, unit = duration.split()
        days = int(n) * (365 if unit == "Y" else 1)
        return [Bar(TODAY - timedelta(days=i), 0.20 + i / 10000) for i in range(days)]


def _pacer() -> HistoricalPacer:
    """A pacer on a fake clock: its waits (IB's identical-request rule) take no real time."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    return HistoricalPacer(clock=lambda: now[0], sleep=sleep)


def _engine() -> Any:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    return engine


def _stock() -> Stock:
    stock = Stock("KO", "SMART", "USD")
    stock.conId = 8894
    return stock


def test_duration() -> None:
    assert duration_for(None, TODAY, 400) == "2 Y"  # above 365 days TWS wants years
    assert duration_for(None, TODAY, 300) == "300 D"
    assert duration_for(TODAY - timedelta(days=1), TODAY, 400) == "2 D"  # re-reads the last session
    assert duration_for(TODAY - timedelta(days=5), TODAY, 400) == "6 D"
    assert duration_for(TODAY - timedelta(days=500), TODAY, 400) == "2 Y"


def test_needed_series() -> None:
    assert needed_series(PutRules()) == [IV, HV]
    assert needed_series(CallRules()) == []
    assert needed_series(PutRules(min_iv_rank=0, min_iv_hv_ratio=0, rsi_filter=True)) == [TRADES]


def test_once_a_day_incremental_and_pruned() -> None:
    engine, ib = _engine(), FakeIB()
    cache = BarCache(engine, _pacer(), history_days=400)
    assert (
        asyncio.run(cache.refresh(cast(IB, ib), _stock(), IV, TODAY)) == 730
    )  # "2 Y" → pruned to 400 days below
    assert asyncio.run(cache.refresh(cast(IB, ib), _stock(), IV, TODAY)) is None  # fresh today: no request
    assert ib.calls == [(IV, "2 Y")]
    closes = cache.closes("KO", IV, TODAY)
    assert len(closes) == 401 and closes[-1] == 0.20  # oldest first, today's last
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(daily_bars)).scalar_one() == 401
    tomorrow = TODAY + timedelta(days=1)
    asyncio.run(cache.refresh(cast(IB, ib), _stock(), IV, tomorrow))
    assert ib.calls[-1] == (IV, "2 D")  # only the days since the last cached bar
    with engine.connect() as conn:
        fetch = conn.execute(select(bar_fetches)).one()
    assert fetch.trading_day == tomorrow.isoformat()


def test_series_not_served_is_recorded_and_not_asked_again_today() -> None:
    engine, ib = _engine(), FakeIB(serve=False)
    cache = BarCache(engine, _pacer(), history_days=400)
    assert asyncio.run(cache.refresh(cast(IB, ib), _stock(), HV, TODAY)) == 0
    assert asyncio.run(cache.refresh(cast(IB, ib), _stock(), HV, TODAY)) is None
    assert len(ib.calls) == 1 and cache.closes("KO", HV, TODAY) == []
    with engine.begin() as conn:  # an hour later it is asked for again
        conn.execute(update(bar_fetches).values(fetched_at="2000-01-01T00:00:00+00:00"))
    ib.serve = True
    assert asyncio.run(cache.refresh(cast(IB, ib), _stock(), HV, TODAY)) == 730
    assert len(ib.calls) == 2
