"""The repricing ladder and the cancels through real processes: a working order's limit walks towards the
bid every ``reprice_seconds`` — modified in place, same orderId — until it fills, or until the intent's
floor, where it rests until 5 minutes before the close; an intent past its deadline is cancelled.

Real parts: the simulator over TCP (TWS protocol, its clock driven through the control interface), the
monitor and the executor as processes, one SQLite file. A test client (client 0) reads quotes.

How the orders come to rest above the market: the simulator runs inside a regular session with its clock
slowed down (``--speed 0.01``: quotes stand still) and fills an order only after it has rested
``--fill-delay`` = 3 s (a modification restarts that wait, as it costs an order its place in the queue).
Right after an order is placed at the mid, the test moves KO up, which makes the put cheaper: the order
now sits above the bid by a known number of ticks, and a SELL fills only once its limit is at most 0.1 of
the spread above the mid (``simulator/broker.py``). With steps every 5 s, an order made marketable by a
step fills before the next one.

- A (no floor) is left 3–6 ticks above its bid: it rests, steps down by a quarter of the way each time
  and fills within 4 steps;
- B's floor is 3 ticks under its limit and at least 3 ticks above the bid: it steps down to the floor,
  holds there, and is cancelled when the clock is moved to 4 minutes before the close;
- C was approved 31 minutes ago (``deadline_minutes = 30``): cancelled at once.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import exchange_calendars
import pandas as pd
import pytest
from ib_async import IB, Option, Stock
from procs import Proc, approve_intent, write_env
from runtime_helpers import session_start
from simproc import Sim, start_sim, stop_sim
from sqlalchemy import Engine, select, update
from waiting import wait_for

from shared.db import make_engine, schema_ready, utcnow
from shared.optionmath import mid, round_to_tick
from shared.schema import fills, intents, order_events, orders

ET = ZoneInfo("America/New_York")
TICK = 0.01  # KO puts below $3 quote in pennies
STRATEGY = (
    '[universe]\nsymbols = ["KO"]\n[schedule]\nmonitor_interval_seconds = 2\n'
    "executor_poll_seconds = 0.5\nheartbeat_seconds = 2\n"
    "[orders]\nreprice_seconds = 5\nreprice_fraction = 0.25\nreprice_max_steps = 4\ndeadline_minutes = 30\n"
    "[risk]\nmax_symbol_fraction = 0.5\n"  # three KO puts (~$26,000) on the $100,000 account: past the 20 %
)
STEP = re.compile(
    r"^repriced (\d)/4: LMT ([\d.]+) → ([\d.]+) \(natural ([\d.]+), (?:floor ([\d.]+)|no floor)\)$"
)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Sim, Path, Engine, str]]:
    day = session_start()[:10]
    sim = start_sim(
        178, "--start", f"{day}T10:00", "--speed", "0.01", "--fill-delay", "3", hours="rth", control=True
    )
    engine = make_engine(f"sqlite:///{write_env(tmp_path, sim.port, STRATEGY)}")
    try:
        yield sim, tmp_path, engine, day
    finally:
        engine.dispose()
        stop_sim(sim)


def close_of(day: str) -> datetime:
    """The close of the XNYS session of ``day`` (13:00 ET on an early close), aware UTC."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calendar = exchange_calendars.get_calendar("XNYS")
        return calendar.session_close(pd.Timestamp(day)).to_pydatetime().astimezone(UTC)


def quote(ib: IB, contract: Any) -> tuple[float, float]:
    [ticker] = ib.reqTickers(contract)
    return float(ticker.bid), float(ticker.ask)


def put_delta(ib: IB, contract: Any) -> float:
    [ticker] = ib.reqTickers(contract)
    assert ticker.modelGreeks is not None and ticker.modelGreeks.delta
    return abs(float(ticker.modelGreeks.delta))


def move_until(
    sim: Sim, ib: IB, ko: Any, put: Any, limit: float, low: int, high: int, *, by_mid: bool = False
) -> tuple[float, float]:
    """Move KO until the put's bid (``by_mid``: its mid) is ``low``..``high`` ticks under ``limit``; the
    put's quote then.

    Quickly (the order fills once it has rested ``--fill-delay`` at a marketable limit): the first move
    uses the put's delta, the next ones the slope the moves so far showed (a secant step), and only then
    cent by cent."""

    def level(bid: float, ask: float) -> float:
        return (bid + ask) / 2 if by_mid else bid

    bid, ask = quote(ib, put)
    spot = mid(*quote(ib, ko))
    assert spot is not None
    target = limit - (low + high) / 2 * TICK  # the bid (or mid) wanted
    slope = -put_delta(ib, put)  # d bid / d KO price
    price, last_price, last_level = spot, spot, level(bid, ask)
    for _ in range(40):
        gap = ticks(limit - level(bid, ask))
        if low <= gap <= high:
            break
        now = level(bid, ask)
        step = (target - now) / slope if slope < -0.01 else (0.01 if gap < low else -0.01)
        if abs(step) < 0.01:
            step = 0.01 if gap < low else -0.01
        price = round(price + step, 2)
        sim.post("/market/KO", {"price": price})
        bid, ask = quote(ib, put)
        if price != last_price and level(bid, ask) != last_level:
            slope = (level(bid, ask) - last_level) / (price - last_price)
        last_price, last_level = price, level(bid, ask)
    return bid, ask


def initial_limit(bid: float, ask: float) -> float:
    """The executor's SELL limit: the mid rounded down to the tick."""
    m = mid(bid, ask)
    assert m is not None
    return round_to_tick(m, TICK, "down")


def ticks(price: float) -> int:
    return round(price / TICK)


def order_row(engine: Engine, key: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(orders).where(orders.c.intent_key == key)).first()


def intent_row(engine: Engine, key: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(intents).where(intents.c.key == key)).first()


def events(engine: Engine, key: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(order_events.c.message)
                .where(order_events.c.intent_key == key)
                .order_by(order_events.c.id)
            ).scalars()
        )


def steps(engine: Engine, key: str) -> list[re.Match[str]]:
    return [m for text in events(engine, key) if (m := STEP.match(text))]


def at_tws(sim: Sim, key: str) -> list[dict[str, Any]]:
    return [o for o in sim.state()["open_orders"] if o["order_ref"] == key]


def test_orders_step_towards_the_bid_in_place_and_are_cancelled_in_time(
    setup: tuple[Sim, Path, Engine, str],
) -> None:
    sim, root, engine, day = setup
    monitor = Proc("monitor", root)
    wait_for("the schema", lambda: schema_ready(engine))
    executor = Proc("executor", root)
    observer = sim.connect(client_id=0)
    log = root / "logs" / "executor.log"

    def context() -> str:
        return f"{executor.output()[-3000:]}\n{log.read_text()[-4000:] if log.exists() else ''}"

    try:
        ko = Stock("KO", "SMART", "USD")
        observer.qualifyContracts(ko)
        details = observer.reqContractDetails(Option("KO", "", 0.0, "P", "SMART"))
        expiry = sorted({d.contract.lastTradeDateOrContractMonth for d in details})[4]  # about 4 weeks
        chain = sorted((d.contract for d in details if d.contract.lastTradeDateOrContractMonth == expiry),
                       key=lambda c: c.strike)  # fmt: skip
        spot = mid(*quote(observer, ko))
        assert spot is not None
        put_a = max((c for c in chain if c.strike <= spot - 2), key=lambda c: c.strike)  # ~25 delta
        put_b = min((c for c in chain if c.strike >= spot), key=lambda c: c.strike)  # ~50 delta

        # B: its floor 3 ticks under its limit (the mid); then KO up until B's bid is far below the floor
        limit_b = initial_limit(*quote(observer, put_b))
        floor_b = round(limit_b - 3 * TICK, 2)
        approve_intent(engine, "TW-REPRICE-B", put_b, floor=floor_b)
        placed_b = wait_for(
            "B's order at TWS", lambda: (r := order_row(engine, "TW-REPRICE-B")) and r.order_id and r,
            context=context,
        )  # fmt: skip
        bid_b, _ = move_until(sim, observer, ko, put_b, limit_b, 8, 12)
        assert placed_b.limit_price == limit_b
        assert ticks(floor_b - bid_b) >= 3, f"B's floor {floor_b} is too close to its bid {bid_b}"

        # C: approved 31 minutes ago (deadline 30 min) with an unreachable floor
        put_c = chain[chain.index(put_a) - 1]
        approve_intent(engine, "TW-REPRICE-C", put_c, floor=50.0)
        with engine.begin() as conn:
            conn.execute(
                update(intents)
                .where(intents.c.key == "TW-REPRICE-C")
                .values(created_at=(utcnow() - timedelta(minutes=31)).isoformat())
            )

        # A: placed at the mid, then KO up until A's mid is 2–3 ticks under its limit: not marketable (the
        # simulator fills a SELL once its limit ≤ mid + 0.2 × half-spread), and one or two 25 % steps to
        # the bid from it (the bid is 2–3 ticks plus the half-spread under the limit)
        limit_a = initial_limit(*quote(observer, put_a))
        approve_intent(engine, "TW-REPRICE-A", put_a)
        placed_a = wait_for(
            "A's order at TWS", lambda: (r := order_row(engine, "TW-REPRICE-A")) and r.order_id and r,
            context=context,
        )  # fmt: skip
        bid_a, ask_a = move_until(sim, observer, ko, put_a, limit_a, 2, 3, by_mid=True)
        assert placed_a.limit_price == limit_a
        mid_a, half_a = (bid_a + ask_a) / 2, (ask_a - bid_a) / 2
        assert 2 <= ticks(limit_a - mid_a) <= 3, f"A: limit {limit_a}, quote {bid_a}/{ask_a}"
        assert limit_a > mid_a + 0.2 * half_a, f"A marketable: limit {limit_a}, quote {bid_a}/{ask_a}"
        assert ticks(floor_b - quote(observer, put_b)[0]) >= 3

        # C: the deadline cancels it
        wait_for(
            "C's cancel", lambda: intent_row(engine, "TW-REPRICE-C").status == "cancelled", context=context
        )
        assert any(t.startswith("cancelled: deadline ") for t in events(engine, "TW-REPRICE-C"))
        wait_for(
            "the cancel reason on C",
            lambda: intent_row(engine, "TW-REPRICE-C").status_reason.startswith("cancelled: deadline "),
        )
        assert not at_tws(sim, "TW-REPRICE-C")

        # A steps down and fills; B steps down to its floor and stays there
        filled_a = wait_for(
            "A filled", lambda: (r := order_row(engine, "TW-REPRICE-A")) and r.status == "Filled" and r,
            timeout=60, context=context,
        )  # fmt: skip
        a_steps = steps(engine, "TW-REPRICE-A")
        assert 1 <= len(a_steps) <= 4, events(engine, "TW-REPRICE-A")
        assert [int(m.group(1)) for m in a_steps] == list(range(1, len(a_steps) + 1))
        assert float(a_steps[0].group(2)) == limit_a
        for before, after in zip(a_steps, a_steps[1:], strict=False):
            assert float(after.group(2)) == float(before.group(3))  # each step starts where the last ended
        last_a = float(a_steps[-1].group(3))
        assert filled_a.limit_price == last_a
        with engine.connect() as conn:
            a_fills = conn.execute(select(fills).where(fills.c.intent_key == "TW-REPRICE-A")).all()
        assert a_fills and {f.order_id for f in a_fills} == {filled_a.order_id}  # the same order, modified
        assert all(f.price >= last_a for f in a_fills)
        assert intent_row(engine, "TW-REPRICE-A").status == "filled"

        held = wait_for(
            "B held at its floor",
            lambda: any(t.startswith("reprice held: at the floor") for t in events(engine, "TW-REPRICE-B")),
            context=lambda: f"B: {events(engine, 'TW-REPRICE-B')}\n{context()}",
        )
        assert held
        b_steps = steps(engine, "TW-REPRICE-B")
        assert b_steps and all(float(m.group(3)) >= floor_b for m in b_steps)  # the floor is never crossed
        assert float(b_steps[-1].group(3)) == floor_b and float(b_steps[0].group(5)) == floor_b
        [b_at_tws] = at_tws(sim, "TW-REPRICE-B")  # one order, modified in place
        assert b_at_tws["order_id"] == placed_b.order_id and b_at_tws["lmt_price"] == floor_b
        assert b_at_tws["status"] == "Submitted" and b_at_tws["filled"] == 0
        assert order_row(engine, "TW-REPRICE-B").limit_price == floor_b

        # 4 minutes before the close: B is cancelled, and says why
        close = close_of(day)
        sim.post("/clock", {"advance_to": (close - timedelta(minutes=4)).isoformat()})
        why = f"cancelled: 5 min before the close ({close.astimezone(ET):%H:%M} ET)"
        wait_for(
            "B's cancel", lambda: intent_row(engine, "TW-REPRICE-B").status == "cancelled", context=context
        )
        assert why in events(engine, "TW-REPRICE-B")
        assert not at_tws(sim, "TW-REPRICE-B")
        assert order_row(engine, "TW-REPRICE-B").status == "Cancelled"
        wait_for("the cancel reason on B", lambda: intent_row(engine, "TW-REPRICE-B").status_reason == why)
        assert not any(t.startswith("cancelled:") for t in events(engine, "TW-REPRICE-A"))
        assert "Traceback" not in log.read_text()
    finally:
        observer.disconnect()
        assert executor.stop() == 0
        assert monitor.stop() == 0
