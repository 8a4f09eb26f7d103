"""Orders: openOrder round trip through ib_async's real decoder, order life cycle, rejections, bookkeeping.

No test hand-writes field positions: encoders are checked by decoding their output with ib_async's Decoder
(and by checking the decoder needs every field we send — dropping the last one must break it).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from golden import AsyncRecorder, sample_order
from ib_async import IB, LimitOrder, MarketOrder, Option, Stock, TagValue
from ib_async.decoder import Decoder

from simulator import encoders as enc
from simulator.broker import Broker, commission_for
from simulator.inbound import ContractReq, OrderReq
from simulator.market import Market, OptionSpec
from simulator.openorder import open_order
from simulator.protocol import encode, split_fields

Sim = Any
VERSIONS = [157, 163, 164, 166, 170, 176, 177, 178]


def decode(version: int, fields: list[Any], handler: str) -> list[tuple[str, tuple[Any, ...]]]:
    """Frame, split and decode ``fields`` with ib_async's Decoder method ``handler``."""
    wire = split_fields(encode(fields)[4:])
    rec = AsyncRecorder()
    getattr(Decoder(rec, version), handler)(wire)  # raises on a short message
    return rec.calls


def needs_every_field(version: int, fields: list[Any], handler: str) -> bool:
    """True when the decoder fails on the message minus its last field (no extra trailing fields)."""
    wire = split_fields(encode(fields)[4:])[:-1]
    try:
        getattr(Decoder(AsyncRecorder(), version), handler)(wire)
    except (ValueError, IndexError):
        return True
    return False


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(seed=7)


@pytest.fixture(scope="module")
def put_spec(market: Market) -> OptionSpec:
    expiry = market.expiries("SPY")[1]
    puts = market.find_options("SPY", expiry, right="P")
    return puts[len(puts) // 2]


@pytest.mark.parametrize("version", VERSIONS)
def test_open_order_decodes_field_for_field(version: int, put_spec: OptionSpec) -> None:
    order = sample_order(put_spec, outside_rth=True)
    order.filled, order.commission = 2.0, 1.30
    fields = open_order(order, version)
    [(name, (order_id, c, o, st))] = decode(version, fields, "openOrder")
    assert name == "openOrder" and order_id == 42 == o.orderId
    got = (
        c.conId,
        c.symbol,
        c.secType,
        c.lastTradeDateOrContractMonth,
        c.strike,
        c.right,
        c.multiplier,
        c.localSymbol,
        c.tradingClass,
    )
    assert got == (
        put_spec.con_id,
        "SPY",
        "OPT",
        put_spec.expiry,
        put_spec.strike,
        "P",
        "100",
        put_spec.local_symbol,
        put_spec.trading_class,
    )
    assert (
        o.action,
        o.totalQuantity,
        o.orderType,
        o.lmtPrice,
        o.tif,
        o.orderRef,
        o.account,
        o.clientId,
        o.permId,
        o.outsideRth,
    ) == ("SELL", 2.0, "LMT", 1.37, "GTC", "intent-abc", "DU1234567", 12000, 1_234_567, True)
    assert o.algoStrategy == "Adaptive" and [(p.tag, p.value) for p in o.algoParams] == [
        ("adaptivePriority", "Normal")
    ]
    assert st.status == "Submitted" and st.commission == pytest.approx(1.30)
    assert st.commissionCurrency == "USD"
    assert o.conditions == [] and not o.whatIf and o.parentId == 0
    assert needs_every_field(version, fields, "openOrder")


@pytest.mark.parametrize("version", VERSIONS)
def test_plain_market_order_without_algo(version: int, market: Market) -> None:
    spy = market.stock("SPY")
    assert spy is not None
    fields = open_order(
        sample_order(
            spy,
            outside_rth=True,
            order_type="MKT",
            algo_strategy="",
            algo_params=[],
            action="BUY",
            quantity=100.0,
            status="PreSubmitted",
        ),
        version,
    )
    [(_, (_, c, o, st))] = decode(version, fields, "openOrder")
    assert (c.secType, c.symbol, o.orderType, o.action, o.totalQuantity, st.status) == (
        "STK",
        "SPY",
        "MKT",
        "BUY",
        100.0,
        "PreSubmitted",
    )
    assert o.algoStrategy == "" and o.lmtPrice > 1e300  # UNSET
    assert needs_every_field(version, fields, "openOrder")


@pytest.mark.parametrize("version", VERSIONS)
def test_other_encoders_decode(version: int, market: Market, put_spec: OptionSpec) -> None:
    spy = market.stock("SPY")
    assert spy is not None
    today = datetime.now(UTC).date()
    for spec, under in ((spy, 0), (put_spec, spy.con_id)):
        fields = enc.contract_data(7, spec, version, today, spy.long_name, under)
        [(name, (req_id, cd))] = decode(version, fields, "contractDetails")
        assert req_id == 7 and cd.contract.conId == spec.con_id and cd.underConId == under
        assert cd.longName == spy.long_name and cd.timeZoneId == "US/Eastern" and cd.minTick == spec.min_tick
        assert cd.tradingHours.count(";") >= 4 and cd.marketRuleIds
        if version >= 164:
            assert needs_every_field(version, fields, "contractDetails")
    ts = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
    fields = enc.exec_details(
        -1,
        version,
        42,
        put_spec,
        "0000e0d5.6574a1b2.01.01",
        ts,
        "DU1234567",
        "CBOE",
        "SLD",
        2,
        1.37,
        99,
        12000,
        2,
        1.37,
        "intent-abc",
    )
    [(_, (req_id, c, ex))] = decode(version, fields, "execDetails")
    assert (
        req_id,
        ex.orderId,
        ex.execId,
        ex.side,
        ex.shares,
        ex.price,
        ex.permId,
        ex.clientId,
        ex.orderRef,
        c.conId,
    ) == (-1, 42, "0000e0d5.6574a1b2.01.01", "SLD", 2, 1.37, 99, 12000, "intent-abc", put_spec.con_id)
    assert ex.time == ts
    assert needs_every_field(version, fields, "execDetails")
    [(_, (report,))] = decode(version, enc.commission_report("x", 1.3, None), "commissionReport")
    assert report.commission == pytest.approx(1.3) and report.currency == "USD"
    [(_, (c, pos, px, value, avg, unreal, real, acct))] = decode(
        version, enc.portfolio_value(put_spec, -2, 1.2, -240, 135.7, 31.4, 0, "DU1234567"), "updatePortfolio"
    )
    assert (c.conId, pos, px, value, avg, unreal, acct) == (
        put_spec.con_id,
        -2,
        1.2,
        -240,
        135.7,
        31.4,
        "DU1234567",
    )
    [(_, (acct, c, pos, avg))] = decode(version, enc.position("DU1234567", put_spec, -2, 135.7), "position")
    assert (acct, c.conId, pos, avg) == ("DU1234567", put_spec.con_id, -2, 135.7)
    [(_, args)] = decode(
        version,
        enc.tick_option_computation(3, 13, 0.25, -0.3, 1.2, 0.1, 0.02, 0.3, -0.05, 600.0),
        "tickOptionComputation",
    )
    assert args == (3, 13, 0, 0.25, -0.3, 1.2, 0.1, 0.02, 0.3, -0.05, 600.0)
    [(_, args)] = decode(version, enc.tick_price(3, 1, 1.25, 10), "priceSizeTick")
    assert args == (3, 1, 1.25, 10)


# ----------------------------------------------------------------------------- bookkeeping
def test_commission_schedule(market: Market, put_spec: OptionSpec) -> None:
    spy = market.stock("SPY")
    assert spy is not None
    assert commission_for(put_spec, 1, 1.0) == 1.00
    assert commission_for(put_spec, 3, 1.0) == pytest.approx(1.95)
    assert commission_for(spy, 100, 600.0) == 1.00
    assert commission_for(spy, 1000, 600.0) == pytest.approx(5.0)
    assert commission_for(spy, 10, 0.5) == pytest.approx(0.05)  # capped at 1 % of trade value


def test_avg_cost_cash_and_realized_pnl(put_spec: OptionSpec) -> None:
    broker = Broker(cash=1_000_000.0)
    c = ContractReq(con_id=put_spec.con_id)

    def mark(_: Any) -> float:
        return 2.0

    sell, _ = broker.place(1, OrderReq(1, c, "SELL", 2, "LMT", 2.00), put_spec, mark)
    broker.fill(sell, 2.00)
    pos = broker.positions[put_spec.con_id]
    assert pos.qty == -2 and pos.avg_cost == pytest.approx(200 - 1.30 / 2)  # per contract, net of commission
    assert broker.cash == pytest.approx(1_000_000 + 400 - 1.30)
    buy, _ = broker.place(1, OrderReq(2, c, "BUY", 2, "LMT", 0.50), put_spec, mark)
    execution = broker.fill(buy, 0.50)
    assert broker.positions[put_spec.con_id].qty == 0
    assert execution.realized_pnl == pytest.approx(400 - 100 - 1.30 - 1.30)
    assert broker.cash == pytest.approx(1_000_000 + 400 - 100 - 2.60)


def test_cash_secured_put_margin(put_spec: OptionSpec) -> None:
    broker = Broker(cash=100_000.0)
    values = dict((k, v) for k, v, cur in broker.account_values(lambda s: 1.0) if cur == "USD")
    assert float(values["AvailableFunds"]) == pytest.approx(100_000)
    order, _ = broker.place(1, OrderReq(1, ContractReq(), "SELL", 1, "LMT", 1.0), put_spec, lambda s: 1.0)
    broker.fill(order, 1.0)
    values = dict((k, v) for k, v, cur in broker.account_values(lambda s: 1.0) if cur == "USD")
    assert float(values["FullInitMarginReq"]) == pytest.approx(put_spec.strike * 100)
    assert float(values["AvailableFunds"]) == pytest.approx(100_000 + 100 - 1 - 100 - put_spec.strike * 100)


# ----------------------------------------------------------------------------- live, over TCP
def _wait(ib: IB, cond: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        ib.sleep(0.05)
    return bool(cond())


def _filled(trade: Any) -> bool:
    return bool(trade.isDone() and trade.fills and trade.fills[0].commissionReport.execId)


def _put(ib: IB) -> Option:
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    chains = ib.reqSecDefOptParams("SPY", "", "STK", spy.conId)
    expiry = chains[0].expirations[2]
    details = ib.reqContractDetails(Option("SPY", expiry, 0, "P", "SMART"))
    [t] = ib.reqTickers(spy)
    best = min(details, key=lambda d: abs(d.contract.strike - t.marketPrice() * 0.9))
    return best.contract  # type: ignore[return-value]


def test_open_order_round_trip_and_modify_to_fill(sim: Sim) -> None:
    ib = sim.connect()
    watcher = sim.connect()
    try:
        put = _put(ib)
        order = LimitOrder(
            "BUY",
            1,
            0.01,
            orderRef="intent-abc",
            tif="GTC",
            account="DU1234567",
            algoStrategy="Adaptive",
            algoParams=[TagValue("adaptivePriority", "Normal")],
        )
        trade = ib.placeOrder(put, order)
        assert _wait(ib, lambda: trade.orderStatus.status == "Submitted")
        # a different client sees the order only through the decoder (fresh Trade built from openOrder)
        seen = [t for t in watcher.reqAllOpenOrders() if t.order.permId == trade.order.permId]
        assert len(seen) == 1
        o = seen[0].order
        got = (
            o.orderId,
            o.action,
            o.totalQuantity,
            o.lmtPrice,
            o.orderType,
            o.tif,
            o.orderRef,
            o.account,
            o.clientId,
            o.algoStrategy,
        )
        assert got == (
            trade.order.orderId,
            "BUY",
            1,
            0.01,
            "LMT",
            "GTC",
            "intent-abc",
            "DU1234567",
            ib.client.clientId,
            "Adaptive",
        )
        assert seen[0].contract.conId == put.conId and seen[0].orderStatus.status == "Submitted"
        # modify: same orderId, marketable price → fills
        [t] = ib.reqTickers(put)
        order.lmtPrice = round(t.ask + 0.05, 2)
        ib.placeOrder(put, order)
        assert _wait(ib, lambda: _filled(trade))
        assert trade.orderStatus.status == "Filled" and trade.orderStatus.filled == 1
        fill = trade.fills[0]
        assert fill.execution.price <= order.lmtPrice and fill.execution.orderRef == "intent-abc"
        assert fill.commissionReport.commission == pytest.approx(1.0)
        assert trade.orderStatus.avgFillPrice == pytest.approx(fill.execution.price)
    finally:
        watcher.disconnect()
        ib.disconnect()


def test_stock_round_trip_realized_pnl_and_rejections(sim: Sim) -> None:
    ib = sim.connect()
    errors: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append((req_id, code, msg))
    try:
        [ko] = ib.qualifyContracts(Stock("KO", "SMART", "USD"))
        buy = ib.placeOrder(ko, MarketOrder("BUY", 100, orderRef="intent-ko"))
        assert _wait(ib, lambda: _filled(buy))
        price = buy.fills[0].execution.price
        pos = next(p for p in ib.positions() if p.contract.conId == ko.conId)
        assert pos.position == 100 and pos.avgCost == pytest.approx(price + 1.0 / 100)
        sell = ib.placeOrder(ko, MarketOrder("SELL", 100))
        assert _wait(ib, lambda: _filled(sell))
        report = sell.fills[0].commissionReport
        expected = (sell.fills[0].execution.price - price) * 100 - 2.0
        assert report.realizedPNL == pytest.approx(expected, abs=0.01)
        # rejections
        bad_qty = ib.placeOrder(ko, LimitOrder("BUY", 0, 10.0))
        unknown = ib.placeOrder(Stock("NOSUCHSYM", "SMART", "USD"), LimitOrder("BUY", 1, 10.0))
        put = _put(ib)
        too_big = ib.placeOrder(put, LimitOrder("SELL", 50, 1.0))
        assert _wait(ib, lambda: len(errors) >= 3)
        codes = {req_id: (code, msg) for req_id, code, msg in errors}
        assert codes[bad_qty.order.orderId][0] == 201
        assert codes[unknown.order.orderId][0] == 200
        assert codes[too_big.order.orderId][0] == 201
        assert codes[too_big.order.orderId][1].startswith(
            "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION "
            "YOUR EQUITY WITH LOAN VALUE ["
        )  # TWS's own wording
        assert all(t.orderStatus.status == "Cancelled" for t in (bad_qty, unknown, too_big))
    finally:
        ib.disconnect()
