"""Protocol conformance: the unmodified ib_async client against the simulator subprocess, at 157, 176 and 178
(ib_async offers 157..178, so 157 is reached by starting the simulator with ``--max-version 157``).

Every expectation is what ib_async's own decoder produced from the bytes the simulator sent; the newer
messages (account summary, P&L, every historical series, volatility ticks, combos, partial fills) are also
compared with what the simulator meant (``twin.py``). IB's own client runs the same flows in
``test_ibapi_conformance.py``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from ib_async import IB, ComboLeg, Contract, ExecutionFilter, LimitOrder, Option, Stock
from simproc import Sim, stop_clean
from twin import Twin, start_in_session, wire

from simulator import history


@pytest.fixture(scope="module", params=[157, 176, 178], ids=["v157", "v176", "v178"])
def sim_and_twin(request: pytest.FixtureRequest) -> Iterator[tuple[Sim, Twin]]:
    """A simulator subprocess negotiating at most server version 157, 176 or 178, its clock inside a
    regular session (quotes move, orders fill), and its in-process twin."""
    s, twin = start_in_session(request.param)
    yield s, twin
    stop_clean(s)


@pytest.fixture(scope="module")
def sim(sim_and_twin: tuple[Sim, Twin]) -> Sim:
    return sim_and_twin[0]


@pytest.fixture(scope="module")
def twin(sim_and_twin: tuple[Sim, Twin]) -> Twin:
    return sim_and_twin[1]


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


def _stream_put_as(ib: IB, data_type: int) -> Option:
    """Switch to market data type ``data_type`` (3 delayed, 4 delayed-frozen), stream the nearest put until it
    has a bid and model greeks, check its ticker says ``data_type``, cancel; return the put."""
    ib.reqMarketDataType(data_type)
    put = _nearest_put(ib)
    ticker = ib.reqMktData(put)
    assert _wait(ib, lambda: ticker.bid > 0 and ticker.modelGreeks is not None)
    assert ticker.marketDataType == data_type
    ib.cancelMktData(put)
    return put


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
    _stream_put_as(ib, 3)


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


# ----------------------------------------------------------------------------- newer messages
def _ko_put(ib: IB, expiry_index: int, moneyness: float) -> Option:
    [ko] = ib.qualifyContracts(Stock("KO", "SMART", "USD"))
    [params] = [p for p in ib.reqSecDefOptParams("KO", "", "STK", ko.conId) if p.exchange == "SMART"]
    details = ib.reqContractDetails(Option("KO", params.expirations[expiry_index], 0, "P", "SMART"))
    [t] = ib.reqTickers(ko)
    return min(details, key=lambda d: abs(d.contract.strike - t.marketPrice() * moneyness)).contract  # type: ignore[return-value]


def _sell(ib: IB, contract: Any, qty: float = 1, ref: str = "") -> Any:
    [t] = ib.reqTickers(contract)
    trade = ib.placeOrder(contract, LimitOrder("SELL", qty, max(0.01, round(t.bid - 0.03, 2)), orderRef=ref))
    assert _wait(ib, lambda: trade.isDone() and trade.fills and trade.fills[-1].commissionReport.execId, 8)
    assert trade.orderStatus.status == "Filled"
    return trade


def test_ids_time_all_open_orders_and_delayed_frozen(sim: Sim, ib: IB) -> None:
    assert ib.client.serverVersion() == sim.version
    first = ib.client.getReqId()
    ib.client.reqIds(1)
    assert ib.reqCurrentTime() is not None and first >= 1
    put = _stream_put_as(ib, 4)
    other = sim.connect()
    try:
        trade = other.placeOrder(put, LimitOrder("BUY", 1, 0.01, orderRef="other-client"))
        assert _wait(other, lambda: trade.orderStatus.status == "Submitted")
        seen = [t for t in ib.reqAllOpenOrders() if t.order.permId == trade.order.permId]
        assert len(seen) == 1 and seen[0].order.orderRef == "other-client"
        other.cancelOrder(trade.order)
        assert _wait(other, lambda: trade.orderStatus.status == "Cancelled")
    finally:
        other.disconnect()


def test_account_summary_matches_account_values(ib: IB) -> None:
    summary = {(v.tag, v.currency): v.value for v in ib.accountSummary()}
    values = {(v.tag, v.currency): v.value for v in ib.accountValues()}
    for tag in ("NetLiquidation", "TotalCashValue", "BuyingPower", "AvailableFunds", "InitMarginReq"):
        assert summary[(tag, "USD")] == values[(tag, "USD")]
    assert summary[("AccountType", "")] == "INDIVIDUAL" and ("DayTradesRemainingT+4", "") in summary
    assert summary[("Currency", "BASE")] == "BASE" and summary[("Currency", "USD")] == "USD"  # $LEDGER:ALL
    assert summary[("CashBalance", "USD")] == values[("CashBalance", "USD")]


@pytest.mark.parametrize(
    "what", ["MIDPOINT", "BID_ASK", "OPTION_IMPLIED_VOLATILITY", "HISTORICAL_VOLATILITY"]
)
def test_historical_series(ib: IB, twin: Twin, what: str) -> None:
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    bars = ib.reqHistoricalData(spy, "", "3 M", "1 day", what, True)
    m = twin.now()
    spec = m.stock("SPY")
    assert spec is not None
    rows = history.daily_rows(m, spec, what, m.now().date(), 63)
    assert rows is not None and len(bars) == len(rows) > 40
    exact = len(rows) if twin.frozen() else len(rows) - 1
    got = [(b.date.strftime("%Y%m%d"), b.open, b.high, b.low, b.close, b.volume, b.barCount) for b in bars]
    want = [(r.date, *(wire(x) for x in (r.open, r.high, r.low, r.close, r.volume)), r.count) for r in rows]
    assert got[:exact] == want[:exact]
    if what == "BID_ASK":
        assert all(b.low <= b.open <= b.close <= b.high for b in bars)  # avg bid < avg ask, min bid, max ask
    if what.endswith("VOLATILITY"):
        assert all(0.02 < b.close < 2 for b in bars)


def test_option_bars_and_stock_volatility_ticks(ib: IB, twin: Twin) -> None:
    put = _ko_put(ib, 3, 0.95)
    for what in ("TRADES", "MIDPOINT"):
        bars = ib.reqHistoricalData(put, "", "10 D", "1 day", what, True)
        m = twin.now()
        rows = history.daily_rows(m, m.contract_by_con_id(put.conId), what, m.now().date(), 10)  # type: ignore[arg-type]
        assert rows and len(bars) == len(rows)
        exact = len(rows) if twin.frozen() else len(rows) - 1
        assert [(b.open, b.close) for b in bars[:exact]] == [
            (wire(r.open), wire(r.close)) for r in rows[:exact]
        ]
    [ko] = ib.qualifyContracts(Stock("KO", "SMART", "USD"))
    ticker = ib.reqMktData(ko, "100,101,104,106")
    assert _wait(
        ib, lambda: ticker.impliedVolatility > 0 and ticker.putOpenInterest > 0 and ticker.callVolume >= 0
    )
    ib.cancelMktData(ko)
    m = twin.now()
    assert ticker.impliedVolatility == wire(history.stock_iv(m, "KO"))
    assert 0.02 < ticker.histVolatility < 2 and ticker.callOpenInterest > 0


def test_pnl_and_pnl_single_follow_a_fill(ib: IB) -> None:
    pnl = ib.reqPnL("DU1234567")
    assert _wait(ib, lambda: pnl.dailyPnL == pnl.dailyPnL)  # not NaN any more
    put = _ko_put(ib, 1, 0.93)
    trade = _sell(ib, put, ref="pnl-test")
    single = ib.reqPnLSingle("DU1234567", "", put.conId)
    assert _wait(ib, lambda: single.position == -1)
    fill = trade.fills[0]
    assert single.value < 0 and single.realizedPnL == 0
    assert single.dailyPnL == pytest.approx(single.unrealizedPnL, abs=0.02)  # opened today
    avg_cost = (
        fill.execution.price * 100 - fill.commissionReport.commission
    )  # per contract, net of commission
    assert single.unrealizedPnL == pytest.approx(single.value + avg_cost, abs=0.02)  # value < 0 for a short
    ib.cancelPnLSingle("DU1234567", "", put.conId)
    ib.cancelPnL("DU1234567")


def test_combo_roll(ib: IB) -> None:
    old, new = _ko_put(ib, 1, 0.88), _ko_put(ib, 3, 0.88)
    _sell(ib, old, ref="roll-open")
    to, tn = ib.reqTickers(old, new)
    net = round((to.bid + to.ask) / 2 - (tn.bid + tn.ask) / 2 + 0.05, 2)  # negative = net credit
    bag = Contract(secType="BAG", symbol="KO", exchange="SMART", currency="USD")
    bag.comboLegs = [
        ComboLeg(conId=old.conId, ratio=1, action="BUY", exchange="SMART"),
        ComboLeg(conId=new.conId, ratio=1, action="SELL", exchange="SMART"),
    ]
    roll = ib.placeOrder(bag, LimitOrder("BUY", 1, net, orderRef="roll-1"))
    assert _wait(ib, lambda: roll.isDone() and len(roll.fills) == 3, 8)
    assert _wait(ib, lambda: sum(1 for f in roll.fills if f.commissionReport.execId) == 2)
    legs = {f.contract.conId: f for f in roll.fills if f.contract.secType == "OPT"}
    [combo] = [f for f in roll.fills if f.contract.secType == "BAG"]
    assert (combo.execution.side, combo.execution.shares, combo.contract.conId) == ("BOT", 1, 28812380)
    assert (legs[old.conId].execution.side, legs[new.conId].execution.side) == ("BOT", "SLD")
    assert legs[old.conId].execution.price - legs[new.conId].execution.price == pytest.approx(
        combo.execution.price
    )
    assert combo.execution.price <= net and roll.orderStatus.avgFillPrice == pytest.approx(
        combo.execution.price
    )
    assert {f.execution.orderRef for f in roll.fills} == {"roll-1"}
    assert [f.commissionReport.commission for f in legs.values()] == [1.0, 1.0]  # per leg, $1 minimum
    positions = {p.contract.conId: p.position for p in ib.positions()}
    assert positions.get(old.conId, 0) == 0 and positions[new.conId] == -1


def test_partial_fills(ib: IB) -> None:
    put = _ko_put(ib, 2, 0.85)
    [t] = ib.reqTickers(put)
    qty = 3 * int(t.askSize)  # larger than the displayed size: it fills in pieces of at most the ask size
    assert t.ask > 0 and qty >= 3
    trade = ib.placeOrder(put, LimitOrder("BUY", qty, round(t.ask + 0.05, 2), orderRef="big"))
    assert _wait(ib, lambda: trade.orderStatus.status == "Submitted" and trade.orderStatus.filled > 0, 8)
    assert _wait(ib, lambda: trade.isDone() and all(f.commissionReport.execId for f in trade.fills), 20)
    fills = trade.fills
    assert len(fills) >= 2 and trade.orderStatus.status == "Filled" and trade.orderStatus.filled == qty
    assert [f.execution.cumQty for f in fills] == list(
        itertools.accumulate(f.execution.shares for f in fills)
    )
    avg = sum(f.execution.shares * f.execution.price for f in fills) / qty
    assert fills[-1].execution.avgPrice == pytest.approx(avg) == trade.orderStatus.avgFillPrice
    commission = sum(f.commissionReport.commission for f in fills)
    assert commission == pytest.approx(max(1.0, 0.65 * qty))  # one order's schedule, the minimum once
