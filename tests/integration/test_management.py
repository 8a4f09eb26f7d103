"""Management rules and the risk loop through real processes: the simulator over TCP (its price and clock
driven through the control interface), the monitor and the executor as processes, one SQLite file. A test
client sells the short puts directly at TWS (as a user would in TWS), so the rules see positions the
service did not open.

One simulator run covers the three modes on different symbols (``[overrides.SYM.management]``):

- KO, ``alert``: profit take, stop loss, DTE roll, gamma and assignment each alert exactly once, when its
  trigger holds and not before (prices moved for the first two, the clock for the others);
- PFE, ``approve``: the profit take is proposed, the executor leaves the proposal alone, the user rejects
  it; the stop loss is proposed, approved, placed and filled;
- F, ``auto``: the profit take is approved at once and filled by the executor;
- BAC, ``approve`` DTE roll: a roll proposal with its two legs, withdrawn when the user buys the put back
  in TWS before clicking.

A second run rolls a KO put in ``auto`` mode: one BAG order whose two legs land in the same wheel cycle.
A third checks ``risk_state``, the halt / resume commands and the portfolio risk alerts.
To show a rule has not fired, the tests wait for monitor refreshes that began after the change
(``risk_state.updated_at`` is written last in a refresh) and then look.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import exchange_calendars
import pandas as pd
import pytest
from ib_async import IB, LimitOrder, Option, Stock
from procs import Proc, write_env
from runtime_helpers import session_start
from simproc import Sim, start_sim, stop_sim
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import OperationalError
from waiting import wait_for

from shared.db import make_engine, schema_ready, utcnow_iso
from shared.optionmath import mid
from shared.schema import (
    alerts,
    commands,
    cycle_legs,
    decisions,
    intent_legs,
    intents,
    order_legs,
    orders,
    positions,
    risk_state,
)

ENV = {"TWS_RESTART_WINDOWS": "", "MARKET_HOURS": "always", "LOG_LEVEL": "INFO"}
SCHEDULE = "[schedule]\nmonitor_interval_seconds = 1\nexecutor_poll_seconds = 0.5\nheartbeat_seconds = 2\n"
CALENDAR_OFF = "roll_dte = 0\ngamma_dte = 0\nassignment_dte = 0\n"  # only on the expiry day, never reached
PRICE_OFF = "profit_take_fraction = 1.0\nstop_loss_multiple = 100.0\n"  # never
MODES = f"""[universe]
symbols = ["KO", "PFE", "F", "BAC"]
{SCHEDULE}
[overrides.KO.management]
profit_take_mode = "alert"
roll_mode = "alert"
stop_loss_mode = "alert"
[overrides.PFE.management]
profit_take_mode = "approve"
stop_loss_mode = "approve"
{CALENDAR_OFF}
[overrides.F.management]
profit_take_mode = "auto"
{CALENDAR_OFF}
[overrides.BAC.management]
roll_mode = "approve"
roll_min_net_credit = 0.01
gamma_dte = 0
assignment_dte = 0
{PRICE_OFF}
"""
ROLL = f"""[universe]
symbols = ["KO"]
{SCHEDULE}
[overrides.KO.management]
roll_mode = "auto"
roll_min_net_credit = 0.01
gamma_dte = 0
assignment_dte = 0
{PRICE_OFF}
"""
RISK = f"""[universe]
symbols = ["KO"]
{SCHEDULE}
[risk]
daily_loss_halt_fraction = 0.002
min_margin_cushion = 0.95
max_csp_collateral_fraction = 0.05
"""


@dataclass
class World:
    sim: Sim
    root: Path
    engine: Engine
    ib: IB  # the test's own client (a user trading in TWS)
    procs: list[Proc]

    def context(self) -> str:
        logs = [self.root / "logs" / f"{p.name}.log" for p in self.procs]
        return "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in logs if p.exists())

    def wait(self, what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
        return wait_for(what, probe, timeout, context=self.context)


def _world(tmp_path: Path, strategy: str, components: tuple[str, ...]) -> Iterator[World]:
    sim = start_sim(178, "--start", session_start(), control=True)
    engine = make_engine(f"sqlite:///{write_env(tmp_path, sim.port, strategy, **ENV)}")
    procs: list[Proc] = []
    ib = None
    try:
        procs.append(Proc("monitor", tmp_path))
        wait_for("the schema", lambda: schema_ready(engine))
        procs += [Proc(name, tmp_path) for name in components]
        ib = sim.connect(client_id=900, timeout=10)
        world = World(sim, tmp_path, engine, ib, procs)
        world.wait("the monitor's first refresh", lambda: _first_refresh(engine))
        yield world
        text = "\n".join(p.output() for p in procs)
        assert "Traceback" not in text, text[-5000:]
    finally:
        if ib is not None:
            ib.disconnect()
        codes = [p.stop() for p in reversed(procs)]
        engine.dispose()
        stop_sim(sim)
    assert codes == [0] * len(codes)


def _first_refresh(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            return conn.execute(select(risk_state.c.updated_at)).first() is not None
    except OperationalError:  # the last migration has not run yet
        return False


@pytest.fixture
def modes(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, MODES, ("executor",))


@pytest.fixture
def roller(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, ROLL, ("executor",))


@pytest.fixture
def risky(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, RISK, ())


# --- the market --------------------------------------------------------------------------------------
def sim_now(w: World) -> datetime:
    return datetime.fromisoformat(w.sim.state()["clock"])


def et_day(moment: datetime) -> date:
    return pd.Timestamp(moment).tz_convert("America/New_York").date()


def session_near(day: date, direction: str) -> date:
    """The NYSE session on ``day`` or the nearest one in ``direction`` (next | previous)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = exchange_calendars.get_calendar("XNYS")
        return cal.date_to_session(pd.Timestamp(day), direction=direction).date()


def expiry_between(w: World, symbol: str, low: int, high: int) -> str:
    """The first listed put expiry ``low``..``high`` calendar days away."""
    today = et_day(sim_now(w))
    details = w.ib.reqContractDetails(Option(symbol, "", 0.0, "P", "SMART"))
    for expiry in sorted({d.contract.lastTradeDateOrContractMonth for d in details}):
        if low <= (datetime.strptime(expiry, "%Y%m%d").date() - today).days <= high:
            return expiry
    raise AssertionError(f"no {symbol} expiry {low}..{high} days away")


def quote(w: World, contract: Any) -> tuple[float, float]:
    [t] = w.ib.reqTickers(contract)
    return float(t.bid), float(t.ask)


def sell_put(w: World, symbol: str, expiry: str, delta: float = 0.30) -> Any:
    """Sell one put of ``symbol`` nearest ``delta`` at its bid from the test's client; the contract."""
    chain = [d.contract for d in w.ib.reqContractDetails(Option(symbol, expiry, 0.0, "P", "SMART"))]
    tickers = w.ib.reqTickers(*chain)
    best = min(
        (t for t in tickers if t.modelGreeks is not None and t.bid > 0),
        key=lambda t: abs(abs(t.modelGreeks.delta) - delta),
    )
    trade = w.ib.placeOrder(best.contract, LimitOrder("SELL", 1, best.bid))
    w.wait(f"the {symbol} put sold", lambda: (w.ib.sleep(0.1), trade.orderStatus.status == "Filled")[1])
    return best.contract


def spot(w: World, symbol: str) -> float:
    """The stock's mid now (dollars per share)."""
    stock = Stock(symbol, "SMART", "USD")
    w.ib.qualifyContracts(stock)
    value = mid(*quote(w, stock))
    assert value is not None
    return value


def push(w: World, symbol: str, option: Any, until: Callable[[float], bool], step: float) -> float:
    """Move ``symbol`` by ``step`` (a fraction: +0.01 = 1 % up) at a time until the option's mark
    satisfies ``until``; the mark then."""
    price = spot(w, symbol)
    for _ in range(80):
        mark = mid(*quote(w, option))
        if mark is not None and until(mark):
            return mark
        price = round(price * (1 + step), 2)
        w.sim.post(f"/market/{symbol}", {"price": price})
    raise AssertionError(f"{symbol} never moved {option.localSymbol} far enough")


def jump(w: World, day: date) -> None:
    w.sim.post("/clock", {"advance_to": f"{day.isoformat()}T10:00"})


def approach(w: World, expiry: str, dte: int, pins: dict[str, float]) -> None:
    """Jump to the last session before ``expiry`` is ``dte`` days away and set the ``pins`` prices there,
    so that the next :func:`arrive` moves prices by one day of the model only."""
    exp = datetime.strptime(expiry, "%Y%m%d").date()
    jump(w, session_near(exp - timedelta(days=dte + 1), "previous"))
    for symbol, price in pins.items():
        w.sim.post(f"/market/{symbol}", {"price": round(price, 2)})


def arrive(w: World, expiry: str, dte: int) -> None:
    """Jump to the first session at which ``expiry`` is at most ``dte`` days away."""
    jump(w, session_near(datetime.strptime(expiry, "%Y%m%d").date() - timedelta(days=dte), "next"))


# --- the database --------------------------------------------------------------------------------------
def all_rows(w: World, table: Any, *where: Any) -> list[Any]:
    with w.engine.connect() as conn:
        return list(conn.execute(select(table).where(*where).order_by(*table.primary_key.columns)))


def decided(w: World, con_id: int) -> list[tuple[str, str]]:
    return [(d.rule, d.status) for d in all_rows(w, decisions, decisions.c.con_id == con_id)]


def decision(w: World, con_id: int, rule: str, *statuses: str) -> Any:
    """The decision of ``rule`` on ``con_id`` once it has one of ``statuses``."""

    def probe() -> Any:
        rows = all_rows(w, decisions, decisions.c.con_id == con_id, decisions.c.rule == rule)
        return rows[0] if rows and rows[0].status in statuses else None

    return w.wait(f"{rule} on {con_id} {'|'.join(statuses)}", probe)


def intent(w: World, key: str) -> Any:
    (row,) = all_rows(w, intents, intents.c.key == key)
    return row


def credit(w: World, contract: Any) -> float:
    row = w.wait(
        f"{contract.localSymbol} in positions",
        lambda: all_rows(w, positions, positions.c.con_id == contract.conId),
    )[0]
    return abs(float(row.avg_cost)) / 100


def refreshed(w: World, times: int = 2) -> None:
    """Wait for ``times`` monitor refreshes to end; the last one began after this call."""
    with w.engine.connect() as conn:
        last = conn.execute(select(risk_state.c.updated_at)).scalar()
    for _ in range(times):
        seen = last

        def newer(seen: Any = seen) -> Any:
            with w.engine.connect() as conn:
                stamp = conn.execute(select(risk_state.c.updated_at)).scalar()
            return stamp if stamp is not None and stamp != seen else None

        last = w.wait("a monitor refresh", newer, 15)


def decide(w: World, row: Any, approve: bool) -> None:
    """What the dashboard's click does: the intent approved (or cancelled) and the decision with it."""
    with w.engine.begin() as conn:
        conn.execute(
            update(intents)
            .where(intents.c.key == row.intent_key, intents.c.status == "proposed")
            .values(status="approved" if approve else "cancelled", updated_at=utcnow_iso())
        )
        conn.execute(
            update(decisions)
            .where(decisions.c.id == row.id)
            .values(
                status="approved" if approve else "rejected", decided_by="tester", updated_at=utcnow_iso()
            )
        )


def management_alerts(w: World) -> list[Any]:
    return all_rows(w, alerts, alerts.c.category == "management")


# --- the tests --------------------------------------------------------------------------------------------
@pytest.mark.timeout(240)
def test_each_rule_fires_once_in_each_mode(modes: World) -> None:
    w = modes
    expiry = expiry_between(w, "KO", 30, 45)
    ko, pfe, f, bac = (sell_put(w, sym, expiry) for sym in ("KO", "PFE", "F", "BAC"))
    credits = {c.symbol: credit(w, c) for c in (ko, pfe, f, bac)}
    refreshed(w)
    assert not all_rows(w, decisions)  # nothing fires before its trigger

    # KO (alert): not yet at 30 % profit, once at 60 %
    mark = push(w, "KO", ko, lambda m: 1 - m / credits["KO"] >= 0.25, 0.002)
    assert 1 - mark / credits["KO"] < 0.4
    refreshed(w)
    assert decided(w, ko.conId) == []
    push(w, "KO", ko, lambda m: 1 - m / credits["KO"] >= 0.6, 0.01)
    push(w, "PFE", pfe, lambda m: 1 - m / credits["PFE"] >= 0.6, 0.01)
    push(w, "F", f, lambda m: 1 - m / credits["F"] >= 0.6, 0.01)
    ko_profit = decision(w, ko.conId, "profit_take", "alerted")
    assert ko_profit.mode == "alert" and ko_profit.action == "close" and ko_profit.intent_key is None
    assert ko_profit.profit_fraction >= 0.5 and ko_profit.credit == pytest.approx(credits["KO"])

    # PFE (approve): a proposal the executor leaves alone; rejected
    pfe_profit = decision(w, pfe.conId, "profit_take", "pending")
    proposal = intent(w, pfe_profit.intent_key)
    assert (proposal.status, proposal.kind, proposal.action, proposal.source) == (
        "proposed",
        "buy_to_close",
        "BUY",
        "monitor",
    )
    assert proposal.con_id == pfe.conId and proposal.quantity == 1
    assert proposal.limit_floor == pytest.approx(pfe_profit.limit_price) and proposal.limit_floor > 0
    assert proposal.key == f"TW-MGT-PROFIT-TAKE-{''.join(pfe.localSymbol.split())}-D{pfe_profit.id}"

    # F (auto): approved at once, bought back by the executor
    f_profit = decision(w, f.conId, "profit_take", "approved", "filled")
    assert f_profit.mode == "auto" and f_profit.intent_key
    decision(w, f.conId, "profit_take", "filled")
    assert intent(w, f_profit.intent_key).status == "filled"
    w.wait("F's put gone", lambda: not all_rows(w, positions, positions.c.con_id == f.conId))

    refreshed(w)
    assert intent(w, pfe_profit.intent_key).status == "proposed"
    assert not all_rows(w, orders, orders.c.intent_key == pfe_profit.intent_key)
    decide(w, pfe_profit, approve=False)

    # stop losses: KO alerted; PFE proposed, approved, filled
    push(w, "KO", ko, lambda m: m - credits["KO"] >= 2.3 * credits["KO"], -0.01)
    push(w, "PFE", pfe, lambda m: m - credits["PFE"] >= 2.3 * credits["PFE"], -0.01)
    ko_stop = decision(w, ko.conId, "stop_loss", "alerted")
    assert ko_stop.profit_fraction <= -2.0
    pfe_stop = decision(w, pfe.conId, "stop_loss", "pending")
    assert intent(w, pfe_stop.intent_key).status == "proposed"
    decide(w, pfe_stop, approve=True)
    decision(w, pfe.conId, "stop_loss", "filled")
    w.wait("PFE's put gone", lambda: not all_rows(w, positions, positions.c.con_id == pfe.conId))

    refreshed(w)
    assert decided(w, ko.conId) == [("profit_take", "alerted"), ("stop_loss", "alerted")]
    assert decided(w, pfe.conId) == [("profit_take", "rejected"), ("stop_loss", "filled")]
    assert decided(w, f.conId) == [("profit_take", "filled")]
    assert decided(w, bac.conId) == []

    # 21 DTE (not 22): KO's DTE roll alerts; BAC proposes a roll with its two legs
    approach(w, expiry, 21, {"BAC": bac.strike * 1.05})
    refreshed(w)
    assert len(decided(w, ko.conId)) == 2 and decided(w, bac.conId) == []
    arrive(w, expiry, 21)
    ko_roll = decision(w, ko.conId, "dte_roll", "alerted")
    assert ko_roll.dte <= 21 and ko_roll.action == "roll" and ko_roll.intent_key is None
    bac_roll = decision(w, bac.conId, "dte_roll", "pending")
    roll_intent = intent(w, bac_roll.intent_key)
    assert roll_intent.status == "proposed" and roll_intent.con_id == bac.conId
    if bac_roll.action == "roll":
        assert roll_intent.kind == "roll" and roll_intent.limit_floor == pytest.approx(-0.01)
        legs = all_rows(w, intent_legs, intent_legs.c.intent_key == bac_roll.intent_key)
        assert [(leg.leg_no, leg.action, leg.ratio) for leg in legs] == [(1, "BUY", 1), (2, "SELL", 1)]
        assert legs[0].con_id == bac.conId and legs[1].con_id == bac_roll.new_con_id
        assert legs[1].expiry > expiry and legs[1].strike <= bac.strike
        assert bac_roll.net_credit >= 0.01
    else:  # no later put paid a net credit: the proposal closes instead, and says so
        assert "no roll for" in bac_roll.reason and roll_intent.kind == "buy_to_close"
    refreshed(w)
    assert decided(w, ko.conId)[2:] == [("dte_roll", "alerted")]  # no gamma / assignment at 21 DTE
    assert not all_rows(w, orders, orders.c.intent_key == bac_roll.intent_key)

    # in the money: nothing at 8 DTE; gamma and assignment alert once each at 7 DTE or less
    approach(w, expiry, 7, {"KO": ko.strike - 4})
    refreshed(w)
    assert len(decided(w, ko.conId)) == 3
    arrive(w, expiry, 7)
    gamma = decision(w, ko.conId, "gamma", "alerted")
    assert gamma.itm and gamma.dte <= 7 and gamma.action == "hold"
    assignment = decision(w, ko.conId, "assignment", "alerted")
    assert abs(assignment.delta) >= 0.5 and assignment.action == "hold"
    refreshed(w)
    assert sorted(decided(w, ko.conId)) == sorted(
        [(r, "alerted") for r in ("profit_take", "stop_loss", "dte_roll", "gamma", "assignment")]
    )

    # the user buys BAC back in TWS before clicking: the roll proposal is withdrawn
    [t] = w.ib.reqTickers(bac)
    trade = w.ib.placeOrder(bac, LimitOrder("BUY", 1, t.ask))
    w.wait("BAC bought back", lambda: (w.ib.sleep(0.1), trade.orderStatus.status == "Filled")[1])
    decision(w, bac.conId, "dte_roll", "lapsed")
    withdrawn = intent(w, bac_roll.intent_key)
    assert withdrawn.status == "cancelled" and "no longer held" in withdrawn.status_reason

    # one alert per decision, none without one
    every = all_rows(w, decisions)
    sent = management_alerts(w)
    assert sorted(a.dedup_key for a in sent) == sorted(f"decision:{d.id}" for d in every)
    by_key = {a.dedup_key: a for a in sent}
    assert by_key[f"decision:{pfe_profit.id}"].severity == "warning"
    assert "approve buy to close" in by_key[f"decision:{pfe_profit.id}"].title
    assert by_key[f"decision:{f_profit.id}"].severity == "info"
    assert by_key[f"decision:{gamma.id}"].severity == "warning"


@pytest.mark.timeout(180)
def test_auto_roll_is_one_combo_order_in_the_same_cycle(roller: World) -> None:
    w = roller
    expiry = expiry_between(w, "KO", 30, 45)
    old = sell_put(w, "KO", expiry)
    credit(w, old)
    refreshed(w)
    assert not all_rows(w, decisions)

    approach(w, expiry, 21, {"KO": old.strike * 1.04})
    refreshed(w)
    assert not all_rows(w, decisions)  # 22 DTE
    arrive(w, expiry, 21)
    roll = decision(w, old.conId, "dte_roll", "approved", "filled")
    assert roll.action == "roll" and roll.mode == "auto" and roll.new_con_id and roll.net_credit >= 0.01
    assert roll.new_expiry > expiry and roll.new_strike <= old.strike
    decision(w, old.conId, "dte_roll", "filled")
    assert intent(w, roll.intent_key).status == "filled"

    (order,) = all_rows(w, orders, orders.c.intent_key == roll.intent_key)
    assert order.status == "Filled"
    legs = all_rows(w, order_legs, order_legs.c.intent_key == roll.intent_key)
    assert [(leg.con_id, leg.action) for leg in legs] == [(old.conId, "BUY"), (roll.new_con_id, "SELL")]
    w.ib.reqExecutions()
    mine = [f for f in w.ib.fills() if f.execution.orderRef == roll.intent_key]
    assert {f.execution.orderId for f in mine} == {order.order_id}  # one order at TWS ...
    assert "BAG" in {f.contract.secType for f in mine}  # ... a combo
    assert {f.contract.conId for f in mine if f.contract.secType == "OPT"} == {old.conId, roll.new_con_id}

    w.wait("the new put held", lambda: all_rows(w, positions, positions.c.con_id == roll.new_con_id))
    w.wait("the old put gone", lambda: not all_rows(w, positions, positions.c.con_id == old.conId))

    def booked() -> dict[tuple[int, str], Any]:
        rows = all_rows(w, cycle_legs)
        return {(r.con_id, r.kind): r for r in rows} if len(rows) == 3 else {}

    legs_by = w.wait("the roll in the ledger", booked)
    assert set(legs_by) == {(old.conId, "sell_put"), (old.conId, "buy_put"), (roll.new_con_id, "sell_put")}
    assert len({leg.cycle_id for leg in legs_by.values()}) == 1  # one wheel cycle
    refreshed(w)
    assert decided(w, old.conId) == [("dte_roll", "filled")] and decided(w, roll.new_con_id) == []


def risk_row(w: World) -> Any:
    with w.engine.connect() as conn:
        return conn.execute(select(risk_state).where(risk_state.c.id == 1)).first()


def risk_alerts(w: World) -> list[Any]:
    return all_rows(w, alerts, alerts.c.category == "risk")


def command(w: World, kind: str) -> int:
    with w.engine.begin() as conn:
        return int(
            conn.execute(
                insert(commands)
                .values(
                    kind=kind,
                    reason="test",
                    actor="dashboard 127.0.0.1",
                    created_at=utcnow_iso(),
                    status="pending",
                )
                .returning(commands.c.id)
            ).scalar_one()
        )


@pytest.mark.timeout(180)
def test_risk_state_commands_and_limits(risky: World) -> None:
    w = risky
    now = sim_now(w)
    day = et_day(now).isoformat()
    row = w.wait("the risk state", lambda: (r := risk_row(w)) and r.day_start_net_liquidation and r)
    assert row.trading_day == day and not row.daily_loss_halt and row.daily_pnl == pytest.approx(0, abs=1)
    offset = (now - datetime.now(UTC)).total_seconds()
    assert row.clock_offset_seconds == pytest.approx(offset, abs=5)
    refreshed(w)
    assert risk_alerts(w) == []  # no put yet: within every limit

    # the user's halt and resume: carried out once each, with who did it
    halt = command(w, "halt")
    w.wait("the halt done", lambda: all_rows(w, commands, commands.c.id == halt, commands.c.status == "done"))
    resume = command(w, "resume")
    w.wait(
        "the resume done", lambda: all_rows(w, commands, commands.c.id == resume, commands.c.status == "done")
    )
    w.wait("both alerts", lambda: len(risk_alerts(w)) >= 2)  # the monitor marks a command done, then alerts
    titles = [(a.severity, a.title) for a in risk_alerts(w)]
    assert titles == [
        ("critical", "Trading halted by dashboard 127.0.0.1"),
        ("warning", "Trading resumed by dashboard 127.0.0.1"),
    ]

    # a put: collateral 8 % > 5 % of net liquidation, and the margin cushion falls below 95 %
    put = sell_put(w, "KO", expiry_between(w, "KO", 30, 45))
    w.wait("the portfolio alerts", lambda: len(risk_alerts(w)) == 4)
    assert {a.title.split(" ")[0] for a in risk_alerts(w)[2:]} == {"Margin", "Short-put"}
    assert not risk_row(w).daily_loss_halt

    # a loss of 0.2 % of the day's start halts new positions, with one critical alert for the day
    start = risk_row(w).day_start_net_liquidation
    paid = credit(w, put)
    push(w, "KO", put, lambda m: (m - paid) * 100 >= 0.003 * start, -0.01)  # a $300 loss on the put
    row = w.wait("the daily-loss halt", lambda: (r := risk_row(w)) and r.daily_loss_halt and r)
    assert row.daily_pnl <= -0.002 * start and row.daily_loss_reason.startswith("daily loss $")
    refreshed(w)
    daily = [a for a in risk_alerts(w) if a.title.startswith("Daily loss")]
    assert len(daily) == 1 and daily[0].severity == "critical" and day in daily[0].title
    assert len(risk_alerts(w)) == 5  # the limits crossed before alert once, not at every refresh

    # the next trading day starts from its own net liquidation, not halted
    nextday = session_near(et_day(now) + timedelta(days=1), "next")
    jump(w, nextday)
    row = w.wait("the next day", lambda: (r := risk_row(w)) and r.trading_day == nextday.isoformat() and r)
    assert not row.daily_loss_halt and row.day_start_net_liquidation > 0
    with w.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(commands)).scalar() == 2
