"""``POST /market/{symbol}``: moving an underlying's price on purpose (simulator/overrides.py).

Real parts: the simulator as a subprocess over TCP driven through its control interface, ib_async clients,
a state file across a restart. The market path is deterministic (seed 7): left alone, KO closes at 76.72 on
Friday 2026-12-18 and the KO 74.5 put, the highest listed strike at least 2 below that, expires worthless
(tests/simulator/test_clock_expiry.py); moved to 70.5 (4 below the strike) on Monday it is assigned.
:func:`ko_scenario` derives the strike and the moved price from the model, so only the close is pinned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, MarketOrder, Option, Stock
from simproc import Sim, start_sim, stop_clean
from waiting import wait_for

from simulator.broker import Broker
from simulator.clock import ET
from simulator.expiry import settle_expiries
from simulator.inbound import ContractReq, OrderReq
from simulator.market import Market
from simulator.overrides import Move

MONDAY = "2026-12-14T10:00"
FRIDAY = date(2026, 12, 18)


def et(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ET).astimezone(UTC)


def ko_scenario() -> tuple[float, float, float]:
    """KO left alone on Friday 2026-12-18 (the model's close: 76.72), the strike of a put listed on Monday
    that is out of the money by at least 2 at that close (74.5), and the price 4 below the strike to move KO
    to on Monday (70.5), which puts the put deep in the money."""
    model = Market(clock=lambda: et(2026, 12, 14, 10))
    close = model.closing_price("KO", FRIDAY)
    strike = max(o.strike for o in model.find_options("KO", "20261218", None, "P") if o.strike <= close - 2)
    return close, strike, strike - 4


@pytest.fixture
def sim() -> Iterator[Sim]:
    s = start_sim(178, "--start", MONDAY, hours="rth", control=True)
    yield s
    stop_clean(s)


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Sim]:
    """One simulator for the requests that are refused."""
    s = start_sim(178, "--start", MONDAY, hours="rth", control=True)
    yield s
    stop_clean(s)


@pytest.fixture
def ib(sim: Sim) -> Iterator[IB]:
    client = sim.connect()
    yield client
    client.disconnect()


def pumped(ib: IB, cond: Callable[[], Any]) -> Callable[[], Any]:
    """A :func:`wait_for` probe that lets ib_async process what arrived before checking ``cond``."""
    return lambda: ib.sleep(0.05) and cond()


def last_price(ib: IB, contract: Any) -> float:
    [ticker] = ib.reqTickers(contract)
    return float(ticker.last)


# ----------------------------------------------------------------------------- the model (in-process)
def test_the_path_goes_on_from_the_moved_price_and_keeps_its_history() -> None:
    close, strike, price = ko_scenario()  # 76.72, the 74.5 put, moved to 70.5
    when = [et(2026, 12, 14, 10)]
    moved, model = Market(clock=lambda: when[0]), Market(clock=lambda: when[0])
    raw_now = model.spot("KO")
    assert raw_now > strike  # left alone, the put is out of the money
    moved.move("KO", Move(price=price))
    assert moved.spot("KO") == price and moved.stock_quote("KO").last == price
    put = moved.find_options("KO", "20261218", strike, "P")[0]
    assert moved.option_quote(put).und_price == price and moved.option_quote(put).delta < -0.9
    assert model.closing_price("KO", FRIDAY) == close == 76.72  # KO's Friday close left alone (seed 7)
    expected = moved.closing_price("KO", FRIDAY)
    assert expected == pytest.approx(close * price / raw_now, abs=0.01) and expected < strike
    before = moved.daily_bars("KO", date(2026, 12, 11), 5)
    assert before == model.daily_bars("KO", date(2026, 12, 11), 5)  # history before the move is kept

    when[0] = et(2026, 12, 18, 16)
    broker = Broker(cash=100_000.0)
    order, _ = broker.place(1, OrderReq(1, ContractReq(), "SELL", 1, "LMT", 1.0), put, lambda s: 1.0)
    broker.fill(order, 1.0)
    [settled] = settle_expiries(broker, moved, FRIDAY, when[0])
    assert (settled.kind, settled.underlying_close) == ("assigned", expected)
    [bar] = moved.daily_bars("KO", FRIDAY, 1)
    assert bar.close == expected

    when[0] = et(2026, 12, 18, 17)  # after hours
    moved.move("KO", Move(drift=None, set_drift=True))  # no drift to end: the level stays
    assert moved.stock_quote("KO").last == expected
    moved.move("KO", Move(price=65.0))  # quoted at once; the official close stays
    assert moved.stock_quote("KO").last == 65.0 and moved.closing_price("KO", FRIDAY) == expected
    when[0] = et(2026, 12, 21, 9, 31)  # Monday opens from it
    assert moved.spot("KO") == pytest.approx(65.0 * model.spot("KO") / close, rel=1e-3)
    assert moved.stock_quote("KO").close == expected
    moved.move("KO", Move(reset=True))
    assert moved.spot("KO") == model.spot("KO") and not moved.overrides.track("KO").active()
    assert moved.closing_price("KO", FRIDAY) == expected  # a reset does not rewrite past closes


# ----------------------------------------------------------------------------- over TCP
def test_moved_price_is_quoted_and_a_short_put_above_it_is_assigned_after_a_jump(sim: Sim, ib: IB) -> None:
    close, strike, price = ko_scenario()  # 76.72, the 74.5 put, moved to 70.5
    [ko] = ib.qualifyContracts(Stock("KO", "SMART", "USD"))
    [put] = ib.qualifyContracts(Option("KO", "20261218", strike, "P", "SMART"))
    assert last_price(ib, ko) > strike  # left alone, the put is out of the money (and would expire worthless)
    sell = ib.placeOrder(put, MarketOrder("SELL", 1))
    wait_for("the put sale to fill", pumped(ib, lambda: sell.isDone() and sell.fills), timeout=10)

    state = sim.post("/market/KO", {"price": price})
    moved = state["markets"]["KO"]
    assert moved["price"] == pytest.approx(price, abs=0.05) and moved["overridden"] and moved["drift"] is None
    assert moved["model_price"] > strike
    assert last_price(ib, ko) == pytest.approx(price, abs=0.5)
    [option] = ib.reqTickers(put)
    assert option.modelGreeks is not None and option.modelGreeks.undPrice == pytest.approx(price, abs=0.5)
    assert option.modelGreeks.delta is not None and option.modelGreeks.delta < -0.8

    # four sessions in one jump: Friday's close, which settles the put, follows the moved path
    state = sim.post("/clock", {"advance_to": "2026-12-18T16:30"})
    friday_close = state["markets"]["KO"]["price"]
    assert price - 10 < friday_close < strike and state["markets"]["KO"]["model_price"] == close
    held = {p["local_symbol"]: (p["position"], p["avg_cost"]) for p in state["positions"]}
    assert held == {"KO": (100, strike)}
    at_client = pumped(ib, lambda: [(p.contract.secType, p.position) for p in ib.positions() if p.position])
    wait_for("the assignment at the client", lambda: at_client() == [("STK", 100)])
    fills = [(x.contract.symbol, x.execution.side, x.execution.shares, x.execution.price) for x in ib.fills()]
    assert ("KO", "BOT", 100, strike) in fills
    bars = ib.reqHistoricalData(ko, "", "2 D", "1 day", "TRADES", True)
    assert (bars[-1].date, bars[-1].close) == (FRIDAY, friday_close)


def test_drift_moves_the_price_its_way_over_a_simulated_day(sim: Sim, ib: IB) -> None:
    sim.post("/market/KO", {"drift": -36.5})  # -3650 %/yr: about -10 % a day, far beyond KO's daily noise
    start = sim.post("/market/PFE", {"drift": 36.5})["markets"]
    assert start["KO"]["drift"] == -36.5 and start["PFE"]["drift"] == 36.5
    state = sim.post("/clock", {"advance_to": "2026-12-15T10:00"})
    ko, pfe = state["markets"]["KO"], state["markets"]["PFE"]
    assert ko["price"] < start["KO"]["price"] * 0.95 and pfe["price"] > start["PFE"]["price"] * 1.05
    assert ko["price"] / ko["model_price"] == pytest.approx(math.exp(-0.1), rel=2e-3)  # one day of drift
    assert pfe["price"] / pfe["model_price"] == pytest.approx(math.exp(0.1), rel=2e-3)
    [stock] = ib.qualifyContracts(Stock("KO", "SMART", "USD"))
    assert last_price(ib, stock) == pytest.approx(ko["price"], abs=0.5)

    level = sim.post("/market/KO", {"drift": None})["markets"]["KO"]  # the drift ends, the level stays
    assert level["drift"] is None and level["overridden"]
    assert level["price"] / level["model_price"] == pytest.approx(math.exp(-0.1), rel=2e-3)
    reset = sim.post("/market/KO", {"reset": True})["markets"]["KO"]  # back to the data-driven price
    assert reset["price"] == reset["model_price"] and not reset["overridden"]
    assert last_price(ib, stock) == pytest.approx(reset["model_price"], abs=0.5)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "price"),
        ({"price": "95"}, "price"),
        ({"price": True}, "price"),
        ({"price": 0}, "price"),
        ({"price": -5}, "price"),
        ({"price": math.inf}, "price"),
        ({"price": math.nan}, "price"),
        ({"drift": "fast"}, "drift"),
        ({"drift": math.inf}, "drift"),
        ({"drift": -math.nan}, "drift"),
        ({"prise": 95}, "prise"),
        ({"price": 95, "volume": 1}, "volume"),
        ({"reset": False}, "reset"),
        ({"reset": True, "price": 95}, "reset"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(shared_sim: Sim, body: dict[str, Any], field: str) -> None:
    before = shared_sim.state()["markets"]
    status, answer = shared_sim.request("POST", "/market/KO", body)
    assert status == 400 and field in answer["error"], answer
    assert shared_sim.state()["markets"] == before


def test_unknown_symbols_and_methods(shared_sim: Sim) -> None:
    sim = shared_sim
    status, answer = sim.request("POST", "/market/NOSUCH", {"price": 10})
    assert status == 404 and "NOSUCH" in answer["error"]
    assert sim.request("GET", "/market/KO")[0] == 405
    assert sim.request("POST", "/market", {"price": 10})[0] == 404
    assert sim.request("POST", "/market/ko", {"price": 70.5})[1]["markets"]["KO"]["price"] == pytest.approx(
        70.5, abs=0.05
    )


def test_the_override_survives_a_restart_on_the_state_file(tmp_path: Path) -> None:
    close, strike, price = ko_scenario()  # 76.72, the 74.5 put's strike, moved to 70.5
    path = tmp_path / "sim-state.json"
    sim = start_sim(178, "--state", str(path), "--start", MONDAY, hours="rth", control=True)
    try:
        before = sim.post("/market/KO", {"price": price, "drift": -0.5})["markets"]["KO"]
    finally:
        stop_clean(sim)
    sim = start_sim(178, "--state", str(path), hours="rth", control=True)  # the saved clock resumes
    try:
        after = sim.state()["markets"]["KO"]
        assert after["drift"] == -0.5 and after["overridden"] and after["since"] == before["since"]
        assert after["price"] == pytest.approx(price, abs=0.5) and after["model_price"] > strike
        state = sim.post("/clock", {"advance_to": "2026-12-18T16:30"})
        assert state["markets"]["KO"]["price"] < strike and state["markets"]["KO"]["model_price"] == close
    finally:
        stop_clean(sim)
