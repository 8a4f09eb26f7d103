"""The VIX index (secType IND, CBOE) over the wire: contract details, market data, daily TRADES bars."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from ib_async import IB, Contract, Index
from simproc import Sim

from simulator import vix
from simulator.market import Market


def test_contract_details(ib: IB) -> None:
    details = ib.reqContractDetails(Index("VIX", "CBOE", "USD"))
    assert len(details) == 1
    c = details[0].contract
    assert c is not None
    assert (c.symbol, c.secType, c.exchange, c.currency, c.conId) == ("VIX", "IND", "CBOE", "USD", vix.CON_ID)
    assert details[0].longName == "CBOE Volatility Index"
    # by conId alone, and no stock called VIX
    assert len(ib.reqContractDetails(Contract(conId=vix.CON_ID))) == 1
    assert (
        ib.reqContractDetails(Contract(symbol="VIX", secType="STK", exchange="SMART", currency="USD")) == []
    )


def test_market_data_last_and_close(ib: IB) -> None:
    (contract,) = ib.qualifyContracts(Index("VIX", "CBOE"))
    ticker = ib.reqMktData(contract, "", snapshot=False)
    ib.sleep(1.5)
    assert 5 < ticker.last < 100 and 5 < ticker.close < 100, ticker
    assert ticker.low <= ticker.last <= ticker.high
    ib.cancelMktData(contract)


def test_daily_trades_bars(ib: IB, sim: Sim) -> None:
    contract = Index("VIX", "CBOE", "USD")
    bars = ib.reqHistoricalData(contract, "", "1 Y", "1 day", "TRADES", True)
    assert len(bars) >= 250
    for b in bars:
        assert 5 < b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high < 150
    # real closes where the shipped data has them (Yahoo ^VIX, 2026-08-07 close 14.90)
    real = {b.date.strftime("%Y%m%d"): b.close for b in bars}
    if "20260807" in real:
        assert real["20260807"] == 14.9
    # a stock's volatility series is not offered for the index
    assert len(ib.reqHistoricalData(contract, "", "1 M", "1 day", "OPTION_IMPLIED_VOLATILITY", True)) == 0


def test_model_reverts_and_moves_against_spy() -> None:
    now = datetime(2027, 6, 1, 18, 0, tzinfo=UTC)
    m = Market(clock=lambda: now)
    bars = vix.model(m).bars(now.date(), 600)
    closes = [b.close for b in bars]
    assert all(5 < c < 150 for c in closes)
    spy = {b.date: b.close for b in m.daily_bars("SPY", now.date(), 600)}
    pairs = [
        (math.log(b.close / a.close), math.log(spy[b.date] / spy[a.date]))
        for a, b in zip(bars, bars[1:], strict=False)
        if a.date > "20260807" and a.date in spy and b.date in spy
    ]
    assert len(pairs) > 150
    mx = sum(p[1] for p in pairs) / len(pairs)
    my = sum(p[0] for p in pairs) / len(pairs)
    cov = sum((x - mx) * (y - my) for y, x in pairs)
    assert cov < 0  # the index falls when the market rises
