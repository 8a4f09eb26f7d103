"""Golden tests: every server → client message the simulator sends, at every negotiated server version,
through IB's own decoder (``ibapi``) and ib_async's. The expected values are the encoder's inputs — no field
positions are written by hand — and ibapi must consume every field (none missing, none extra).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from golden import async_decode, ibapi_decode, ibapi_single, sample_order
from ibapi.const import UNSET_DOUBLE

from simulator import encoders as enc
from simulator.combo import BAG_CON_ID, BagSpec, ComboLegSpec
from simulator.encoders import HistRow
from simulator.market import Market, OptionSpec, StockSpec
from simulator.openorder import open_order

VERSIONS = [157, 164, 166, 176, 177, 178]
ACCT = "DU1234567"


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(seed=7)


@pytest.fixture(scope="module")
def spy(market: Market) -> StockSpec:
    spec = market.stock("SPY")
    assert spec is not None
    return spec


@pytest.fixture(scope="module")
def puts(market: Market) -> tuple[OptionSpec, OptionSpec]:
    expiries = market.expiries("SPY")
    near = market.find_options("SPY", expiries[1], right="P")
    far = market.find_options("SPY", expiries[3], right="P")
    return near[len(near) // 2], far[len(far) // 2]


def _contract(c: Any) -> tuple[Any, ...]:
    return (
        c.conId,
        c.symbol,
        c.secType,
        c.lastTradeDateOrContractMonth,
        float(c.strike),
        c.right,
        c.localSymbol,
    )


def _spec_contract(spec: OptionSpec | StockSpec) -> tuple[Any, ...]:
    if isinstance(spec, OptionSpec):
        return (spec.con_id, spec.symbol, "OPT", spec.expiry, spec.strike, spec.right, spec.local_symbol)
    return (spec.con_id, spec.symbol, "STK", "", 0.0, "", spec.symbol)


# ------------------------------------------------------------------------------ connection and errors
@pytest.mark.parametrize("version", VERSIONS)
def test_handshake_messages_and_error(version: int) -> None:
    assert ibapi_single(version, [15, 1, ACCT]) == ("managedAccounts", (ACCT,))
    assert ibapi_single(version, [9, 1, 42]) == ("nextValidId", (42,))
    assert ibapi_single(version, [49, 1, 1_790_000_000]) == ("currentTime", (1_790_000_000,))
    name, (req_id, _time, code, msg, advanced) = ibapi_single(
        version, enc.error(7, 200, "No security", version)
    )
    assert (name, req_id, code, msg, advanced) == ("error", 7, 200, "No security", "")
    [(_, args)] = async_decode(version, enc.error(7, 200, "No security", version))
    assert args == (7, 200, "No security", "")


# ------------------------------------------------------------------------------ contracts and chains
@pytest.mark.parametrize("version", VERSIONS)
def test_contract_details(
    version: int, market: Market, spy: StockSpec, puts: tuple[OptionSpec, OptionSpec]
) -> None:
    today = date(2026, 11, 20)
    for spec, under in ((spy, 0), (puts[0], spy.con_id)):
        fields = enc.contract_data(9, spec, version, today, spy.long_name, under)
        name, (req_id, cd) = ibapi_single(version, fields)
        assert (name, req_id) == ("contractDetails", 9)
        assert _contract(cd.contract)[:6] == _spec_contract(spec)[:6]
        assert cd.contract.localSymbol == _spec_contract(spec)[6]
        assert (cd.contract.exchange, cd.contract.currency, cd.minTick, cd.underConId) == (
            "SMART",
            "USD",
            spec.min_tick,
            under,
        )
        assert cd.longName == spy.long_name and cd.timeZoneId == "US/Eastern"
        assert cd.tradingHours == enc.trading_hours(today, *(("0930", "1600") if under else ("0400", "2000")))
        if under:
            assert (cd.contract.multiplier, cd.underSymbol, cd.underSecType) == ("100", "SPY", "STK")
        else:
            assert (cd.contract.primaryExchange, cd.stockType) == (spy.primary_exchange, "ETF")
        [(_, (rid, acd))] = async_decode(version, fields)
        assert rid == 9 and acd.contract.conId == spec.con_id and acd.longName == spy.long_name
    assert ibapi_single(version, enc.contract_data_end(9)) == ("contractDetailsEnd", (9,))
    expiries, strikes = market.expiries("SPY"), market.strikes("SPY")
    fields = enc.sec_def_opt_params(4, "SMART", spy.con_id, "SPY", 100, expiries, strikes)
    name, args = ibapi_single(version, fields)
    assert (name, args) == (
        "securityDefinitionOptionParameter",
        (4, "SMART", spy.con_id, "SPY", "100", set(expiries), set(strikes)),
    )
    assert ibapi_single(version, enc.sec_def_opt_params_end(4)) == (
        "securityDefinitionOptionParameterEnd",
        (4,),
    )


# ------------------------------------------------------------------------------ market data
@pytest.mark.parametrize("version", VERSIONS)
def test_ticks(version: int) -> None:
    calls, rest = ibapi_decode(version, enc.tick_price(3, 1, 1.25, 10))
    assert rest == [] and [(n, a[:3]) for n, a in calls] == [
        ("tickPrice", (3, 1, 1.25)),
        ("tickSize", (3, 0, 10)),
    ]
    calls, _ = ibapi_decode(version, enc.tick_price(3, 66, 1.2, 7))  # delayed bid → delayed bid size 69
    assert [(n, a[:3]) for n, a in calls] == [("tickPrice", (3, 66, 1.2)), ("tickSize", (3, 69, 7))]
    assert ibapi_single(version, enc.tick_size(3, 28, 1234)) == ("tickSize", (3, 28, Decimal(1234)))
    assert ibapi_single(version, enc.tick_generic(3, 24, 0.1875)) == ("tickGeneric", (3, 24, 0.1875))
    greeks = (0.25, -0.3, 1.2, 0.1, 0.02, 0.3, -0.05, 600.0)
    name, args = ibapi_single(version, enc.tick_option_computation(3, 13, *greeks))
    assert (name, args) == ("tickOptionComputation", (3, 13, 0, *greeks))
    [(_, aargs)] = async_decode(version, enc.tick_option_computation(3, 83, *greeks))
    assert aargs == (3, 83, 0, *greeks)
    assert ibapi_single(version, enc.tick_snapshot_end(3)) == ("tickSnapshotEnd", (3,))
    assert ibapi_single(version, enc.market_data_type(3, 4)) == ("marketDataType", (3, 4))


@pytest.mark.parametrize("version", VERSIONS)
def test_historical_rows(version: int) -> None:
    rows = [
        HistRow("20261119", 700.5, 705.25, 698.0, 704.1, 51_000_000, 702.45, 510_000),
        HistRow("20261120", 0.18, 0.19, 0.175, 0.1825, -1, -1, -1),
    ]
    fields = enc.historical_rows(5, "20261118 00:00:00", "20261120 16:00:00", rows)
    calls, rest = ibapi_decode(version, fields)
    assert rest == []
    assert [n for n, _ in calls] == ["historicalData", "historicalData", "historicalDataEnd"]
    for (_, (req_id, bar)), row in zip(calls, rows, strict=False):
        got = (req_id, bar.date, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.wap, bar.barCount)
        assert got == (
            5,
            row.date,
            row.open,
            row.high,
            row.low,
            row.close,
            Decimal(row.volume),
            Decimal(str(row.wap)),
            row.count,
        )
    assert calls[2][1] == (5, "20261118 00:00:00", "20261120 16:00:00")
    acalls = async_decode(version, fields)
    assert [(a[1].date, a[1].close, a[1].volume, a[1].barCount) for _, a in acalls[:2]] == [
        (r.date, r.close, r.volume, r.count) for r in rows
    ]


# ------------------------------------------------------------------------------ account
@pytest.mark.parametrize("version", VERSIONS)
def test_account_messages(version: int, puts: tuple[OptionSpec, OptionSpec]) -> None:
    put = puts[0]
    assert ibapi_single(version, enc.account_value("NetLiquidation", "100000.00", "USD", ACCT)) == (
        "updateAccountValue",
        ("NetLiquidation", "100000.00", "USD", ACCT),
    )
    name, (c, pos, px, value, avg, unreal, real, acct) = ibapi_single(
        version, enc.portfolio_value(put, -2, 1.2, -240, 135.7, 31.4, 0, ACCT)
    )
    assert (name, _contract(c), pos, px, value, avg, unreal, real, acct) == (
        "updatePortfolio",
        _spec_contract(put),
        Decimal(-2),
        1.2,
        -240,
        135.7,
        31.4,
        0,
        ACCT,
    )
    assert ibapi_single(version, enc.account_time(datetime(2026, 11, 20, 15, 4, tzinfo=UTC))) == (
        "updateAccountTime",
        ("10:04",),
    )
    assert ibapi_single(version, enc.account_download_end(ACCT)) == ("accountDownloadEnd", (ACCT,))
    name, (acct, c, pos, avg) = ibapi_single(version, enc.position(ACCT, put, -2, 135.7))
    assert (name, acct, _contract(c), pos, avg) == ("position", ACCT, _spec_contract(put), Decimal(-2), 135.7)
    assert ibapi_single(version, enc.position_end()) == ("positionEnd", ())
    multi = enc.account_update_multi(8, ACCT, "", "NetLiquidation", "1.00", "USD")
    assert ibapi_single(version, multi) == (
        "accountUpdateMulti",
        (8, ACCT, "", "NetLiquidation", "1.00", "USD"),
    )
    assert ibapi_single(version, enc.account_update_multi_end(8)) == ("accountUpdateMultiEnd", (8,))
    summary = enc.account_summary(6, ACCT, "Cushion", "0.951200", "")
    assert ibapi_single(version, summary) == ("accountSummary", (6, ACCT, "Cushion", "0.951200", ""))
    assert async_decode(version, summary) == [("accountSummary", (6, ACCT, "Cushion", "0.951200", ""))]
    assert ibapi_single(version, enc.account_summary_end(6)) == ("accountSummaryEnd", (6,))


@pytest.mark.parametrize("version", VERSIONS)
def test_pnl_messages(version: int) -> None:
    assert ibapi_single(version, enc.pnl(11, -12.5, 40.25, -3.65)) == ("pnl", (11, -12.5, 40.25, -3.65))
    assert async_decode(version, enc.pnl(11, -12.5, 40.25, -3.65)) == [("pnl", (11, -12.5, 40.25, -3.65))]
    name, args = ibapi_single(version, enc.pnl_single(12, -1, 4.5, 6.0, None, -177.5))
    assert (name, args) == ("pnlSingle", (12, Decimal(-1), 4.5, 6.0, UNSET_DOUBLE, -177.5))
    [(_, aargs)] = async_decode(version, enc.pnl_single(12, -1, 4.5, 6.0, None, -177.5))
    assert aargs == (12, -1.0, 4.5, 6.0, UNSET_DOUBLE, -177.5)


# ------------------------------------------------------------------------------ orders and executions
def _bag(puts: tuple[OptionSpec, OptionSpec]) -> BagSpec:
    return BagSpec("SPY", (ComboLegSpec(puts[0], 1, "BUY"), ComboLegSpec(puts[1], 1, "SELL")))


@pytest.mark.parametrize("version", VERSIONS)
def test_open_order_and_status(version: int, puts: tuple[OptionSpec, OptionSpec]) -> None:
    order = sample_order(puts[0])
    name, (order_id, c, o, st) = ibapi_single(version, open_order(order, version))
    assert (name, order_id, _contract(c)) == ("openOrder", 42, _spec_contract(puts[0]))
    got = (
        o.action,
        o.totalQuantity,
        o.orderType,
        o.lmtPrice,
        o.tif,
        o.orderRef,
        o.account,
        o.clientId,
        o.permId,
    )
    assert got == ("SELL", Decimal(2), "LMT", 1.37, "GTC", "intent-abc", ACCT, 12000, 1_234_567)
    assert o.algoStrategy == "Adaptive" and [(p.tag, p.value) for p in o.algoParams] == [
        ("adaptivePriority", "Normal")
    ]
    assert st.status == "Submitted"
    status = enc.order_status(42, "Submitted", 1, 1, 1.36, 1_234_567, 0, 1.36, 12000)
    assert ibapi_single(version, status) == (
        "orderStatus",
        (42, "Submitted", Decimal(1), Decimal(1), 1.36, 1_234_567, 0, 1.36, 12000, "", 0.0),
    )
    assert ibapi_single(version, [53, 1]) == ("openOrderEnd", ())
    assert ibapi_single(version, [102]) == ("completedOrdersEnd", ())


@pytest.mark.parametrize("version", VERSIONS)
def test_combo_open_order(version: int, puts: tuple[OptionSpec, OptionSpec]) -> None:
    bag = _bag(puts)
    order = sample_order(bag, action="BUY", quantity=1.0, lmt_price=-0.45, algo_strategy="", algo_params=[])
    fields = open_order(order, version)
    name, (_, c, o, _st) = ibapi_single(version, fields)
    assert (c.secType, c.conId, c.symbol, c.localSymbol, c.tradingClass) == (
        "BAG",
        BAG_CON_ID,
        "SPY",
        "28812380",
        "COMB",
    )
    assert c.comboLegsDescrip == f"{puts[0].con_id}|1,{puts[1].con_id}|-1"
    assert [(leg.conId, leg.ratio, leg.action, leg.exchange) for leg in c.comboLegs] == [
        (puts[0].con_id, 1, "BUY", "SMART"),
        (puts[1].con_id, 1, "SELL", "SMART"),
    ]
    assert (o.action, o.lmtPrice, o.orderRef) == ("BUY", -0.45, "intent-abc")
    [(_, (_, ac, ao, _))] = async_decode(version, fields)
    assert [(leg.conId, leg.action) for leg in ac.comboLegs] == [
        (puts[0].con_id, "BUY"),
        (puts[1].con_id, "SELL"),
    ]
    assert ac.secType == "BAG" and ao.lmtPrice == -0.45


@pytest.mark.parametrize("version", VERSIONS)
def test_executions_and_commissions(version: int, puts: tuple[OptionSpec, OptionSpec]) -> None:
    ts = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    for spec, sec_type in ((puts[0], "OPT"), (_bag(puts), "BAG")):
        inputs = (
            -1,
            version,
            42,
            spec,
            "0000e0d5.6574a1b2.01.01",
            ts,
            ACCT,
            "CBOE",
            "SLD",
            2,
            1.37,
            99,
            12000,
        )
        fields = enc.exec_details(*inputs, 2, 1.37, "intent-abc")
        name, (req_id, c, ex) = ibapi_single(version, fields)
        assert (name, req_id, c.conId, c.secType) == ("execDetails", -1, spec.con_id, sec_type)
        got = (ex.orderId, ex.execId, ex.time, ex.acctNumber, ex.exchange, ex.side, ex.shares, ex.price)
        assert got == (42, "0000e0d5.6574a1b2.01.01", enc.tws_time(ts), ACCT, "CBOE", "SLD", Decimal(2), 1.37)
        assert (ex.permId, ex.clientId, ex.cumQty, ex.avgPrice, ex.orderRef) == (
            99,
            12000,
            Decimal(2),
            1.37,
            "intent-abc",
        )
        [(_, (_, _, aex))] = async_decode(version, fields)
        assert aex.time == ts and aex.orderRef == "intent-abc"
    assert ibapi_single(version, enc.exec_details_end(3)) == ("execDetailsEnd", (3,))
    for realized in (None, -3.65):
        name, (report,) = ibapi_single(version, enc.commission_report("x.01", 1.3, realized))
        assert (report.execId, report.commissionAndFees, report.currency) == ("x.01", 1.3, "USD")
        assert report.realizedPNL == (UNSET_DOUBLE if realized is None else realized)
        assert report.yield_ == UNSET_DOUBLE and report.yieldRedemptionDate == 0
