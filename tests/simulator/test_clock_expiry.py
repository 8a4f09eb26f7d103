"""The simulated clock, trading hours and option expiry: a one-week accelerated run with the monitor attached.

Real parts: the simulator as a subprocess over TCP driven through its control interface, ib_async clients,
the monitor as a process writing a real SQLite file. The market path is deterministic (seed 7), so the
week of 2026-12-14 always closes with KO 76.72, PFE 15.98 and F 8.22 on Friday 2026-12-18 (a monthly
expiry): the KO 74.5 put expires worthless, the PFE 19 put is assigned and the covered F 7 call is called
away. The tests pick those strikes from the model's own closes (:func:`listed`), so they follow a change of
the path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Option, Stock, Trade
from simproc import Sim, start_sim, stop_clean, stop_sim
from sqlalchemy import select

from shared.db import make_engine
from shared.schema import positions
from simulator.broker import Broker
from simulator.clock import ET, SimClock, TradingHours, parse_time
from simulator.expiry import settle_expiries
from simulator.inbound import ContractReq, OrderReq
from simulator.market import Market
from simulator.market_types import OptionSpec

FRIDAY = date(2026, 12, 18)


def et(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ET).astimezone(UTC)


def wait(ib: IB, cond: Any, timeout: float = 6.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        ib.sleep(0.05)
    return bool(cond())


def listed(
    market: Market, symbol: str, right: str, *, at_most: float | None = None, at_least: float | None = None
) -> OptionSpec:
    """The listed 2026-12-18 option: highest strike ``<= at_most``, else the lowest ``>= at_least``."""
    specs = market.find_options(symbol, "20261218", None, right)
    if at_most is not None:
        return max((s for s in specs if s.strike <= at_most), key=lambda s: s.strike)
    assert at_least is not None
    return min((s for s in specs if s.strike >= at_least), key=lambda s: s.strike)


# ----------------------------------------------------------------------------- clock and hours (in-process)
def test_clock_runs_accelerated_jumps_forward_and_never_back() -> None:
    wall = [1000.0]
    clock = SimClock(parse_time("2026-12-14T09:30"), speed=60, wall=lambda: wall[0])
    assert clock.now() == et(2026, 12, 14, 9, 30)
    wall[0] += 10  # ten wall seconds = ten simulated minutes
    assert clock.now() == et(2026, 12, 14, 9, 40)
    clock.set_speed(3600)
    wall[0] += 1
    assert clock.now() == et(2026, 12, 14, 10, 40)
    clock.advance_to(et(2026, 12, 18, 16, 30))
    assert clock.now() == et(2026, 12, 18, 16, 30)
    with pytest.raises(ValueError):
        clock.advance_to(et(2026, 12, 18, 9, 30))
    assert parse_time("2026-07-01T09:30") == datetime(2026, 7, 1, 13, 30, tzinfo=UTC)  # EDT
    assert parse_time("2026-12-01T09:30+00:00") == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_trading_hours_follow_the_nyse_calendar() -> None:
    hours = TradingHours(date(2026, 11, 1))
    assert hours.is_open(et(2026, 11, 25, 15, 59).timestamp())
    assert not hours.is_open(et(2026, 11, 25, 16, 0).timestamp())
    assert not hours.is_open(et(2026, 11, 25, 9, 29).timestamp())
    assert not hours.is_open(et(2026, 11, 26, 12).timestamp())  # Thanksgiving
    assert hours.is_open(et(2026, 11, 27, 12, 59).timestamp())  # early close at 13:00
    assert not hours.is_open(et(2026, 11, 27, 13, 0).timestamp())
    assert not hours.is_open(et(2026, 11, 28, 12).timestamp())  # Saturday
    closes = hours.closes_between(et(2026, 11, 25, 12).timestamp(), et(2026, 12, 1, 12).timestamp())
    assert closes == [
        (date(2026, 11, 25), int(et(2026, 11, 25, 16).timestamp())),
        (date(2026, 11, 27), int(et(2026, 11, 27, 13).timestamp())),
        (date(2026, 11, 30), int(et(2026, 11, 30, 16).timestamp())),
    ]


def test_quotes_freeze_outside_regular_hours() -> None:
    when = [et(2026, 12, 16, 16, 30)]
    market = Market(clock=lambda: when[0])
    put = market.find_options("KO", "20261218", 84.0, "P")[0]
    after_close = (market.stock_quote("KO"), market.option_quote(put))
    assert not market.is_open()
    when[0] = et(2026, 12, 17, 8, 0)  # next morning, before the open
    assert (market.stock_quote("KO"), market.option_quote(put)) == after_close
    when[0] = et(2026, 12, 17, 10, 0)
    assert market.is_open() and market.option_quote(put) != after_close[1]


# ----------------------------------------------------------------------------- settlement (in-process)
def test_settlement_books_like_ib() -> None:
    clock = [et(2026, 12, 18, 10)]
    market = Market(clock=lambda: clock[0])
    broker = Broker(cash=100_000.0)
    ko, pfe = market.closing_price("KO", FRIDAY), market.closing_price("PFE", FRIDAY)  # 76.72, 15.98
    specs = {
        "ko_put": listed(market, "KO", "P", at_most=ko - 2),  # 74.5, OTM by 2.22: lapses
        "pfe_put": listed(market, "PFE", "P", at_least=pfe + 3),  # 19, ITM by 3.02: assigned
        "ko_call": listed(market, "KO", "C", at_most=ko - 1),  # 75.5, long ITM by 1.22: exercised
    }
    pfe_k, ko_k = specs["pfe_put"].strike, specs["ko_call"].strike
    for i, (name, spec) in enumerate(specs.items()):
        action = "BUY" if name == "ko_call" else "SELL"
        order, _ = broker.place(1, OrderReq(i + 1, ContractReq(), action, 2, "LMT", 1.0), spec, lambda s: 1.0)
        broker.fill(order, 1.0)
    cash = broker.cash
    when = clock[0] = et(2026, 12, 18, 16)
    done = {s.spec.local_symbol: s for s in settle_expiries(broker, market, FRIDAY, when)}
    assert {s.kind for s in done.values()} == {"expired", "assigned", "exercised"}
    ko_put, pfe_put, ko_call = (done[specs[k].local_symbol] for k in ("ko_put", "pfe_put", "ko_call"))
    assert ko_put.realized == pytest.approx(200 - 1.30) and not ko_put.executions
    assert pfe_put.realized == pytest.approx(200 - 1.30)
    assert ko_call.realized == pytest.approx(-200 - 1.30)
    ko_stk, pfe_stk = market.stock("KO"), market.stock("PFE")
    assert ko_stk is not None and pfe_stk is not None
    assert broker.positions[pfe_stk.con_id].qty == 200 and broker.positions[pfe_stk.con_id].avg_cost == pfe_k
    assert broker.positions[ko_stk.con_id].qty == 200 and broker.positions[ko_stk.con_id].avg_cost == ko_k
    assert all(broker.positions[s.con_id].qty == 0 for s in specs.values())
    assert broker.cash == pytest.approx(cash - 200 * pfe_k - 200 * ko_k)  # no commission on delivery
    stock_leg = pfe_put.executions[1]
    assert (stock_leg.side, stock_leg.shares, stock_leg.price, stock_leg.commission) == ("BOT", 200, pfe_k, 0)
    assert (stock_leg.order.order_id, stock_leg.order.order_ref, stock_leg.time) == (0, "", when)
    assert [e.side for e in ko_call.executions] == ["SLD", "BOT"]


# ----------------------------------------------------------------------------- one week, over TCP
class Monitor:
    """``python -m monitor`` in a scratch folder against the simulator."""

    def __init__(self, root: Path, port: int) -> None:
        strategy = root / "thetawheel.toml"
        strategy.write_text('[universe]\nsymbols = ["KO"]\n[schedule]\nmonitor_interval_seconds = 1\n')
        self.db = root / "thetawheel.db"
        (root / ".env").write_text(
            f"IBKR_PORT={port}\nDATABASE_URL=sqlite:///{self.db}\nTHETAWHEEL_CONFIG={strategy}\n"
            "LOG_DIR=logs\nTWS_RESTART_WINDOWS=\n"
        )
        self.out = (root / "monitor.out").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor"],
            cwd=root,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def positions(self) -> dict[str, float]:
        if not self.db.exists():
            return {}
        engine = make_engine(f"sqlite:///{self.db}")
        try:
            with engine.connect() as conn:
                return {r.local_symbol: r.quantity for r in conn.execute(select(positions))}
        except Exception:
            return {}
        finally:
            engine.dispose()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(15)
        self.out.close()


@pytest.fixture
def week(tmp_path: Path) -> Iterator[tuple[Sim, IB]]:
    sim = start_sim(178, "--start", "2026-12-14T09:45", hours="rth", control=True)
    ib = sim.connect(client_id=1)
    try:
        yield sim, ib
    finally:
        ib.disconnect()
        stop_clean(sim)


def _sell(ib: IB, contract: Any) -> Trade:
    return ib.placeOrder(contract, MarketOrder("SELL", 1))


def test_one_week_put_expires_put_assigned_call_called_away(week: tuple[Sim, IB], tmp_path: Path) -> None:
    sim, ib = week
    model = Market(clock=lambda: et(2026, 12, 14, 9, 45))  # the simulator's model at its start
    close = {s: model.closing_price(s, FRIDAY) for s in ("KO", "PFE", "F")}  # 76.72, 15.98, 8.22
    strikes = (
        listed(model, "KO", "P", at_most=close["KO"] - 2),  # 74.5, OTM by 2.22: expires worthless
        listed(model, "PFE", "P", at_least=close["PFE"] + 3),  # 19, ITM by 3.02: assigned
        listed(model, "F", "C", at_most=close["F"] - 1),  # 7, ITM by 1.22: called away
    )
    pfe_k, f_k = strikes[1].strike, strikes[2].strike
    pfe_sym, f_sym = (s.local_symbol.strip() for s in strikes[1:])
    monitor = Monitor(tmp_path, sim.port)
    try:
        [f] = ib.qualifyContracts(Stock("F", "SMART", "USD"))
        buy = ib.placeOrder(f, MarketOrder("BUY", 100))
        assert wait(ib, buy.isDone)
        ko_put, pfe_put, f_call = ib.qualifyContracts(  # the F call is covered by the 100 F shares
            *(Option(s.symbol, s.expiry, s.strike, s.right, "SMART") for s in strikes)
        )
        sells = [_sell(ib, c) for c in (ko_put, pfe_put, f_call)]
        assert wait(ib, lambda: all(t.isDone() and t.fills for t in sells))
        premium = {t.contract.localSymbol: t.fills[0].execution.price * 100 - 1.00 for t in sells}
        f_cost = buy.fills[0].execution.price * 100 + 1.00
        cash_before = sim.state()["cash"]
        assert cash_before == pytest.approx(100_000 - f_cost + sum(premium.values()), abs=0.005)
        assert wait(ib, lambda: len(monitor.positions()) == 4, timeout=30), monitor.positions()

        state = sim.post("/clock", {"advance_to": "2026-12-18T16:30"})  # Friday after the close
        assert state["clock"].startswith("2026-12-18T21:30") and not state["market_open"]

        # positions and portfolio, as TWS reports them after expiry
        assert wait(ib, lambda: {p.contract.symbol for p in ib.positions() if p.position} == {"PFE"})
        [pfe] = [p for p in ib.positions() if p.position]
        assert (pfe.contract.secType, pfe.position, pfe.avgCost) == ("STK", 100, pfe_k)
        assert {i.contract.symbol: i.position for i in ib.portfolio()} == {"PFE": 100}
        # cash: the put's strike paid, the call's strike received, no commission on delivery
        assert state["cash"] == pytest.approx(cash_before - pfe_k * 100 + f_k * 100, abs=0.005)
        # realized P&L: every premium, plus the F shares sold at the call's strike
        f_realized = f_k * 100 - f_cost
        total = sum(premium.values()) + f_realized
        assert state["realized_pnl"] == pytest.approx(total, abs=0.005)
        assert wait(ib, lambda: _value(ib, "RealizedPnL") == pytest.approx(total, abs=0.005))
        assert _value(ib, "TotalCashValue") == pytest.approx(state["cash"], abs=0.005)

        # executions: option legs at 0 and stock at the strike; orderId 0, no orderRef, no commission
        got = sorted(
            (x.contract.localSymbol.strip(), x.execution.side, x.execution.shares, x.execution.price)
            for x in ib.reqExecutions()
        )
        assert got == [
            ("F", "SLD", 100, f_k),
            (f_sym, "BOT", 1, 0.0),
            ("PFE", "BOT", 100, pfe_k),
            (pfe_sym, "BOT", 1, 0.0),
        ]  # today's only (the Monday trades are yesterday's news) and none for the lapsed KO put
        fills = {x.contract.localSymbol.strip(): x for x in ib.fills() if x.execution.orderId == 0}
        assert all(x.execution.orderRef == "" and x.commissionReport.commission == 0 for x in fills.values())
        assert all(x.execution.time == et(2026, 12, 18, 16) for x in fills.values())
        assert fills[pfe_sym].commissionReport.realizedPNL == pytest.approx(premium[pfe_put.localSymbol])
        assert fills["F"].commissionReport.realizedPNL == pytest.approx(f_realized)

        # the service: the monitor's positions table follows the assignment
        assert wait(ib, lambda: monitor.positions() == {"PFE": 100.0}, timeout=30), monitor.positions()
        assert ib.reqCurrentTime() >= et(2026, 12, 18, 16, 30)
    finally:
        monitor.stop()


def _value(ib: IB, tag: str) -> float | None:
    for v in ib.accountValues():
        if v.tag == tag and v.currency == "USD":
            return float(v.value)
    return None


def test_no_fills_outside_regular_hours_and_day_orders_end_at_the_close() -> None:
    sim = start_sim(178, "--start", "2026-11-26T11:00", hours="rth", control=True)  # Thanksgiving
    ib = sim.connect(client_id=2)
    try:
        [ko] = ib.qualifyContracts(Stock("KO", "SMART", "USD"))
        gtc = ib.placeOrder(ko, MarketOrder("BUY", 10, tif="GTC"))
        day = ib.placeOrder(ko, LimitOrder("BUY", 10, 1.00, tif="DAY"))  # never marketable
        ib.sleep(1.5)
        assert gtc.orderStatus.status == "Submitted" and not gtc.fills  # holiday: the order rests
        sim.post("/clock", {"advance_to": "2026-11-27T09:29"})
        ib.sleep(1.0)
        assert not gtc.fills  # one minute before the open
        sim.post("/clock", {"advance_to": "2026-11-27T12:50"})  # early-close day (13:00)
        assert wait(ib, lambda: bool(gtc.fills))
        assert abs(gtc.fills[0].execution.time.timestamp() - et(2026, 11, 27, 12, 50).timestamp()) < 10
        sim.post("/clock", {"advance_to": "2026-11-27T13:05"})
        assert wait(ib, lambda: day.orderStatus.status == "Cancelled")  # the DAY order ended at 13:00
        assert sim.state()["open_orders"] == []
    finally:
        ib.disconnect()
        assert stop_sim(sim) == 0


def test_early_assignment_of_deep_itm_calls_before_ex_dividend() -> None:
    # KO goes ex-dividend ($0.485, projected from 2025) on Friday 2026-11-27; at Wednesday's close (75.05)
    # the 66 call (ITM by 9.05) has 0.02 of time value left: assigned; the 76 call is out of the money: kept
    model = Market(clock=lambda: et(2026, 11, 25, 10))  # the simulator's model at its start
    close = model.closing_price("KO", date(2026, 11, 25))
    deep_k = listed(model, "KO", "C", at_most=close - 9).strike
    otm_k = listed(model, "KO", "C", at_least=close + 0.5).strike
    sim = start_sim(178, "--start", "2026-11-25T10:00", "--early-assignment", hours="rth", control=True)
    ib = sim.connect(client_id=3)
    try:
        [ko] = ib.qualifyContracts(Stock("KO", "SMART", "USD"))
        deep, otm = ib.qualifyContracts(
            Option("KO", "20261218", deep_k, "C", "SMART"), Option("KO", "20261218", otm_k, "C", "SMART")
        )
        trades = [ib.placeOrder(ko, MarketOrder("BUY", 200))]
        assert wait(ib, trades[0].isDone)
        trades += [_sell(ib, deep), _sell(ib, otm)]
        assert wait(ib, lambda: all(t.isDone() for t in trades))
        sim.post("/clock", {"advance_to": "2026-11-25T16:05"})
        held = {p["local_symbol"]: p["position"] for p in sim.state()["positions"]}
        assert held == {"KO": 100, otm.localSymbol: -1}
        assert wait(ib, lambda: any(f.execution.price == deep_k for f in ib.fills()))
    finally:
        ib.disconnect()
        assert stop_sim(sim) == 0


def test_accelerated_clock_crosses_the_close_by_itself() -> None:
    # 120x: the ten simulated minutes to Friday's close take five wall seconds; no jump involved
    sim = start_sim(178, "--start", "2026-12-18T15:50", "--speed", "120", hours="rth", control=True)
    ib = sim.connect(client_id=4)
    try:
        t0 = ib.reqCurrentTime()
        [put] = ib.qualifyContracts(Option("PFE", "20261218", 20, "P", "SMART"))
        sell = _sell(ib, put)
        assert wait(ib, sell.isDone)
        assert wait(
            ib, lambda: {p.contract.symbol: p.position for p in ib.positions() if p.position} == {"PFE": 100}
        )
        t1 = ib.reqCurrentTime()
        assert t1 >= et(2026, 12, 18, 16) and (t1 - t0).total_seconds() > 500  # ≈ 120 s per wall second
        [pfe] = ib.qualifyContracts(Stock("PFE", "SMART", "USD"))
        chains = ib.reqSecDefOptParams("PFE", "", "STK", pfe.conId)
        assert min(chains[0].expirations) > "20261218"  # the expired series is no longer listed
    finally:
        ib.disconnect()
        assert stop_sim(sim) == 0
