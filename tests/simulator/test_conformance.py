"""Protocol conformance: the unmodified ib_async client against the simulator subprocess, at 176 and 178.

Every expectation is what ib_async's own decoder produced from the bytes the simulator sent.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from ib_async import IB, ExecutionFilter, LimitOrder, Option, Stock

Sim = Any


def _wait(ib: IB, cond, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        ib.sleep(0.05)
    return bool(cond())


def _nearest_put(ib: IB, symbol: str = "SPY") -> Option:
    [stock] = ib.qualifyContracts(Stock(symbol, "SMART", "USD"))
    [params] = [p for p in ib.reqSecDefOptParams(symbol, "", "STK", stock.conId) if p.exchange == "SMART"]
    expiry = params.expirations[1]
    details = ib.reqContractDetails(Option(symbol, expiry, 0, "P", "SMART"))
    assert details
    # the put closest to 7 % out of the money
    ticker = ib.reqTickers(stock)[0]
    target = ticker.marketPrice() * 0.93
    best = min(details, key=lambda d: abs(d.contract.strike - target))
    return best.contract  # type: ignore[return-value]


def test_connect_fast_and_synced(sim: Sim) -> None:
    t0 = time.monotonic()
    ib = sim.connect()
    try:
        assert time.monotonic() - t0 < 2.0
        assert ib.client.serverVersion() == sim.version
        assert ib.managedAccounts() == ["DU1234567"]
        values = {(v.tag, v.currency): v.value for v in ib.accountValues()}
        assert float(values[("NetLiquidation", "USD")]) > 0
        assert ("TotalCashValue", "BASE") in values
        assert ("BuyingPower", "USD") in values
        assert isinstance(ib.positions(), list)
        assert not [line for line in sim.log_lines if "Traceback" in line]
    finally:
        ib.disconnect()


def test_qualify_stock_and_unknown_symbol(ib: IB) -> None:
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    assert spy.conId > 0 and spy.primaryExchange
    errors: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    assert ib.reqContractDetails(Stock("NOSUCHSYM", "SMART", "USD")) == []
    assert 200 in errors


def test_partial_option_and_sec_def(ib: IB) -> None:
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    params = ib.reqSecDefOptParams("SPY", "", "STK", spy.conId)
    smart = [p for p in params if p.exchange == "SMART"]
    assert smart and len(smart[0].expirations) >= 3 and len(smart[0].strikes) >= 10
    expiry = smart[0].expirations[0]
    by_expiry = ib.reqContractDetails(Option("SPY", expiry, 0, "P", "SMART"))
    assert len(by_expiry) > 5
    assert {d.contract.right for d in by_expiry} == {"P"}
    assert {d.contract.lastTradeDateOrContractMonth for d in by_expiry} == {expiry}
    assert all(d.underConId == spy.conId and d.contract.multiplier == "100" for d in by_expiry)
    strike = by_expiry[len(by_expiry) // 2].contract.strike
    by_strike = ib.reqContractDetails(Option("SPY", "", strike, "", "SMART"))
    assert len(by_strike) > 1 and {d.contract.strike for d in by_strike} == {strike}
    # a (strike, expiry) pair from the union that does not exist → error 200, no contract
    errors: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    assert ib.reqContractDetails(Option("SPY", expiry, 0.5, "P", "SMART")) == []
    assert 200 in errors
    errors.clear()
    ib.reqSecDefOptParams("SPY", "", "STK", 0)
    assert 321 in errors


def test_option_streaming_greeks_and_snapshot(ib: IB) -> None:
    put = _nearest_put(ib)
    ticker = ib.reqMktData(put, "100,101")
    assert _wait(ib, lambda: ticker.bid > 0 and ticker.ask > 0 and ticker.modelGreeks is not None)
    g = ticker.modelGreeks
    assert g is not None and g.impliedVol and g.impliedVol > 0
    assert g.delta is not None and -1 < g.delta < 0
    assert ticker.bidGreeks is not None and ticker.askGreeks is not None
    assert _wait(ib, lambda: ticker.putOpenInterest > 0)
    assert ticker.marketDataType == 1
    n_updates = len(ticker.ticks)
    ib.cancelMktData(put)
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    [snap] = ib.reqTickers(spy)
    assert snap.bid > 0 and snap.ask >= snap.bid and snap.last > 0 and snap.close > 0
    assert n_updates >= 0


def test_delayed_market_data(ib: IB) -> None:
    ib.reqMarketDataType(3)
    put = _nearest_put(ib)
    ticker = ib.reqMktData(put)
    assert _wait(ib, lambda: ticker.bid > 0 and ticker.modelGreeks is not None)
    assert ticker.marketDataType == 3
    ib.cancelMktData(put)


def test_historical_daily_bars(ib: IB) -> None:
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    bars = ib.reqHistoricalData(spy, "", "30 D", "1 day", "TRADES", True)
    assert 15 <= len(bars) <= 30
    assert all(b.high >= b.low > 0 for b in bars)
    assert bars[0].date < bars[-1].date
    mid = ib.reqHistoricalData(spy, "", "1 Y", "1 day", "MIDPOINT", True)
    assert len(mid) > 200


def test_limit_order_fills_with_commission_and_position(sim: Sim, ib: IB) -> None:
    put = _nearest_put(ib)
    [t] = ib.reqTickers(put)
    assert t.bid > 0
    trade = ib.placeOrder(put, LimitOrder("SELL", 1, t.bid, orderRef="intent-fill", tif="DAY"))
    assert _wait(ib, lambda: trade.isDone() and trade.fills and trade.fills[0].commissionReport.execId)
    assert trade.orderStatus.status == "Filled"
    fill = trade.fills[0]
    assert fill.execution.shares == 1 and fill.execution.side == "SLD"
    assert fill.execution.orderRef == "intent-fill"
    assert fill.commissionReport.commission == pytest.approx(1.00)
    assert fill.commissionReport.currency == "USD"
    positions = {p.contract.conId: p for p in ib.positions()}
    assert positions[put.conId].position == -1
    assert positions[put.conId].avgCost == pytest.approx(fill.execution.price * 100 - 1.00)
    assert _wait(ib, lambda: any(p.contract.conId == put.conId for p in ib.portfolio()))
    # the execution replays through reqExecutions (also in a fresh connection)
    other = sim.connect()
    try:
        fills = other.reqExecutions(ExecutionFilter(symbol=put.symbol, secType="OPT"))
        exec_ids = {f.execution.execId for f in fills}
        assert fill.execution.execId in exec_ids
        # ib_async keeps the commission on the fill it first saw (connect already synced executions)
        replay = next(f for f in other.fills() if f.execution.execId == fill.execution.execId)
        assert replay.commissionReport.commission == pytest.approx(1.00)
        assert replay.execution.orderRef == "intent-fill"
        bought = other.reqExecutions(ExecutionFilter(side="BUY"))
        assert all(f.execution.side == "BOT" for f in bought)
    finally:
        other.disconnect()


def test_cancel_unmarketable_order(ib: IB) -> None:
    put = _nearest_put(ib)
    [t] = ib.reqTickers(put)
    assert t.bid > 0.05
    trade = ib.placeOrder(put, LimitOrder("BUY", 1, 0.01, orderRef="intent-cancel"))
    assert _wait(ib, lambda: trade.orderStatus.status == "Submitted")
    ib.sleep(0.5)
    assert trade.orderStatus.status == "Submitted" and not trade.fills
    ib.cancelOrder(trade.order)
    assert _wait(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert trade.isDone()


def test_duplicate_client_id_refused(sim: Sim) -> None:
    first = sim.connect()
    try:
        second = IB()
        codes: list[int] = []
        second.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
        with pytest.raises(Exception):  # noqa: B017 - ib_async raises a timeout or a connection error
            second.connect(sim.host, sim.port, clientId=first.client.clientId, timeout=2)
        assert 326 in codes
        second.disconnect()
        assert first.isConnected()
        assert first.reqCurrentTime() is not None
        third = sim.connect()
        assert third.isConnected()
        third.disconnect()
    finally:
        first.disconnect()
