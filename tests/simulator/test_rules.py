"""The rules behind the newer messages, in process: combo pricing and margin, the partial-fill rule, daily
P&L, the account summary's tag handling, and the historical series' invariants."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator import history, summary
from simulator.__main__ import parse_args
from simulator.broker import Broker, SimOrder
from simulator.combo import BagSpec, ComboLegSpec, bag_from_json, combo_fill_price, split_price
from simulator.inbound import ContractReq, OrderReq
from simulator.market import Market, OptionSpec
from simulator.pnl import DayBook
from simulator.server import SimServer

NOW = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # a Friday, 12:00 US/Eastern


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(seed=7, clock=lambda: NOW)


@pytest.fixture(scope="module")
def puts(market: Market) -> tuple[OptionSpec, OptionSpec]:
    spot = market.spot("KO")
    near, far = (market.find_options("KO", market.expiries("KO")[i], right="P") for i in (1, 3))
    pick = [min(chain, key=lambda o: abs(o.strike - 0.93 * spot)) for chain in (near, far)]
    return pick[0], pick[1]


def _order(spec: Any, action: str, qty: float, price: float, order_type: str = "LMT") -> SimOrder:
    return SimOrder(1, 1, 9, spec, action, qty, order_type, price, "DU1234567", status="Submitted")


def test_combo_price_convention_split_and_margin(puts: tuple[OptionSpec, OptionSpec]) -> None:
    old, new = puts
    bag = BagSpec("KO", (ComboLegSpec(old, 1, "BUY"), ComboLegSpec(new, 1, "SELL")))
    quotes = [(0.40, 0.44), (0.90, 0.96)]  # combo bid = 0.40 − 0.96, ask = 0.44 − 0.90, mid = −0.51
    assert combo_fill_price(_order(bag, "BUY", 1, -0.50), bag, quotes) == -0.50  # pays less than mid
    assert combo_fill_price(_order(bag, "BUY", 1, -0.54), bag, quotes) is None  # asks for a bigger credit
    assert combo_fill_price(_order(bag, "BUY", 1, 0, "MKT"), bag, quotes) == pytest.approx(-0.46)
    assert combo_fill_price(_order(bag, "SELL", 1, -0.53), bag, quotes) == -0.53  # reversed legs
    legs = split_price(bag, -0.50, quotes)
    assert legs[0] - legs[1] == pytest.approx(-0.50) and all(round(p, 2) == p for p in legs)
    assert abs(legs[0] - 0.42) < 0.011 and abs(legs[1] - 0.93) < 0.011  # each leg near its own mid
    assert bag.legs_description() == f"{old.con_id}|1,{new.con_id}|-1"
    assert bag_from_json(json.loads(json.dumps(bag.to_json())), Market(seed=7, clock=lambda: NOW)) == bag
    broker = Broker(cash=100_000.0)
    c = ContractReq(con_id=old.con_id)
    sold, _ = broker.place(1, OrderReq(1, c, "SELL", 1, "LMT", 0.42), old, lambda s: 0.42)
    broker.fill(sold, 0.42)
    # rolling releases the old put's collateral and needs the new one's, minus the credit
    need = bag.requirement(broker, 1, -0.50, lambda s: 0.5)
    assert need == pytest.approx((new.strike - old.strike) * 100 - 50)
    assert broker.requirement(bag, 1, -0.50, lambda s: 0.5) == need  # the broker delegates combos


def test_partial_fill_rule_and_cumulative_commission(puts: tuple[OptionSpec, OptionSpec]) -> None:
    from simulator.fills import fill_quantity

    order = _order(puts[0], "BUY", 10, 0.5)
    assert fill_quantity(order, 4, 0.0, 0) == 4  # at most the displayed size
    assert fill_quantity(order, 50, 0.0, 0) == 10
    assert fill_quantity(order, 50, 1.0, 0) == 5  # --partial-fills 1: half, rounded up
    halves = [fill_quantity(order, 50, 0.5, n) for n in range(200)]
    assert 60 < halves.count(5) < 140 and set(halves) == {5, 10}  # deterministic draws, about half
    assert parse_args(["--partial-fills", "0.25"]).partial_fills == 0.25
    broker = Broker(cash=100_000.0)
    pieces = [broker.fill(order, 0.5, qty=q) for q in (1, 4, 5)]
    assert [p.cum_qty for p in pieces] == [1, 5, 10] and order.status == "Filled"
    assert [p.commission for p in pieces] == [1.0, 2.25, 3.25]  # $1 minimum once, then $0.65 per contract
    assert sum(p.commission for p in pieces) == pytest.approx(0.65 * 10)


def test_daily_pnl(market: Market, puts: tuple[OptionSpec, OptionSpec]) -> None:
    server = SimServer(market)
    put = puts[0]
    ko = market.stock("KO")
    assert ko is not None
    broker = server.broker
    order, _ = broker.place(1, OrderReq(1, ContractReq(), "SELL", 2, "LMT", 0.3), put, lambda s: 0.3)
    broker.fill(order, 0.30)
    stock, _ = broker.place(1, OrderReq(2, ContractReq(), "BUY", 100, "MKT"), ko, lambda s: 60.0)
    stock_exec = broker.fill(stock, 60.0)
    stock_exec.time = NOW - timedelta(days=1)  # bought yesterday: today's P&L runs from yesterday's close
    book = DayBook(server)
    mark_put, mark_ko = book.mark(put), book.mark(ko)
    single = book.single(put.con_id)
    assert single.pos == -2 and single.value == pytest.approx(-200 * mark_put)
    assert single.daily == pytest.approx(-200 * mark_put + 60 - order.commission)  # sold today at 0.30
    assert single.unrealized == pytest.approx(single.daily)  # opened today: both measure from the fill
    prev_close = market.closing_price("KO", NOW.date() - timedelta(days=1))
    assert book.single(ko.con_id).daily == pytest.approx(100 * (mark_ko - prev_close))
    total = book.account()
    assert total.daily == pytest.approx(single.daily + book.single(ko.con_id).daily)
    none = book.single(123)
    assert (none.pos, none.daily, none.value) == (0.0, None, None)  # sent as TWS's unset double


def test_account_summary_tags_and_ledger(market: Market) -> None:
    server = SimServer(market)
    rows = summary.rows_for(server, ["NetLiquidation", "Cushion", "NoSuchTag", "$LEDGER:ALL"])
    tags = [(tag, cur) for tag, _, cur in rows]
    assert tags[:2] == [("NetLiquidation", "USD"), ("Cushion", "")]
    assert ("NoSuchTag", "") not in tags and ("NoSuchTag", "USD") not in tags  # ignored, as TWS does
    ledger = {(tag, cur) for tag, _, cur in rows[2:]}
    assert {c for _, c in ledger} == {"BASE", "USD"} and ("CashBalance", "BASE") in ledger
    assert {cur for _, _, cur in summary.rows_for(server, ["$LEDGER"])} == {"BASE"}
    assert {cur for _, _, cur in summary.rows_for(server, ["$LEDGER:USD"])} == {"USD"}
    every = summary.rows_for(server, list(summary.SUMMARY_TAGS))
    assert [tag for tag, _, _ in every] == list(summary.SUMMARY_TAGS)


def test_historical_series_invariants(market: Market, puts: tuple[OptionSpec, OptionSpec]) -> None:
    spy = market.stock("SPY")
    assert spy is not None
    end = NOW.date()
    trades = history.daily_rows(market, spy, "TRADES", end, 60)
    bid_ask = history.daily_rows(market, spy, "BID_ASK", end, 60)
    hv = history.daily_rows(market, spy, "HISTORICAL_VOLATILITY", end, 60)
    iv = history.daily_rows(market, spy, "OPTION_IMPLIED_VOLATILITY", end, 60)
    assert trades and bid_ask and hv and iv and len({len(trades), len(bid_ask), len(hv), len(iv)}) == 1
    for t, q in zip(trades, bid_ask, strict=True):
        assert q.low < t.low <= t.high < q.high and q.open < q.close and q.volume == -1
    closes = [b.close for b in market.daily_bars("SPY", end, 91)]
    rets = [math.log(b / a) for a, b in zip(closes[-31:], closes[-30:], strict=False)]
    mean = sum(rets) / len(rets)
    expected_hv = math.sqrt(sum((r - mean) ** 2 for r in rets) / (len(rets) - 1) * 252)
    assert hv[-1].close == pytest.approx(expected_hv, abs=1e-6) and hv[-1].open == hv[-2].close
    assert iv[-1].close == pytest.approx(market.atm_iv("SPY", 30), abs=1e-6)
    assert all(0.5 <= r.close / iv[-1].close <= 2.5 for r in iv)
    assert history.daily_rows(market, puts[0], "OPTION_IMPLIED_VOLATILITY", end, 5) is None  # no such data
    bars = history.daily_rows(market, puts[1], "TRADES", end, 400)
    assert bars and bars[0].date >= history.listed_from(puts[1]).strftime("%Y%m%d")
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)
