"""The wheel turns, end to end, the way ``make run`` runs it (honcho + Procfile.demo: simulator, monitor,
scanner, executor, dashboard; real SQLite): a put is sold through the dashboard, the simulator's price and
clock are moved through its expiry, the monitor's ledger shows the assignment and the adjusted cost basis,
the scanner offers covered calls at or above that basis, one is sold, the shares are called away, and the
closed cycle's realized P&L equals what the simulator's own executions and commissions add up to.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from demo import Client, Service, all_up, start_demo, wait_for
from ib_async import IB, MarketOrder, Stock
from simproc import start_sim, stop_clean
from sqlalchemy import Engine, select
from waiting import wait_for as plain_wait

from shared.db import make_engine
from shared.schema import cycle_legs, cycles, opportunities, scans

SYMBOL = "KO"
STRATEGY = f"""
[universe]
symbols = ["{SYMBOL}"]

[schedule]
monitor_interval_seconds = 2
scan_interval_seconds = 12
executor_poll_seconds = 1
heartbeat_seconds = 2

[puts]
min_annualized_return = 0.05    # KO's puts in the delta band pay about 8 %/yr on the simulator
# the history rules are tested on their own (test_scan_history.py); here the wheel must turn on any date
min_iv_rank = 0.0
min_iv_hv_ratio = 0.0
avoid_earnings = false

[calls]
avoid_earnings = false
"""


class Control:
    """The simulator's control interface (``--control-port``)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
        return answer

    def price(self, symbol: str, price: float) -> None:
        self.call("POST", f"/market/{symbol}", {"price": price})

    def settle_at(self, expiry: str, symbol: str, price: float) -> None:
        """Jump to the morning of ``expiry`` (YYYYMMDD), move ``symbol`` to ``price``, then jump past that
        day's close (16:00 ET): the options expiring then settle against the moved close."""
        day = f"{expiry[:4]}-{expiry[4:6]}-{expiry[6:]}"
        self.call("POST", "/clock", {"advance_to": f"{day}T10:00"})
        self.price(symbol, price)
        self.call("POST", "/clock", {"advance_to": f"{day}T16:30"})


class SimExecutions:
    """The simulator's own record of executions, read over the TWS protocol (``reqExecutions``) after each
    step, because TWS reports the current day's only."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: dict[str, tuple[str, str, float, float, int, float]] = {}

    def collect(self) -> None:
        ib = IB()
        ib.connect("127.0.0.1", self.port, clientId=777, timeout=10)
        try:
            ib.reqExecutions()
            ib.sleep(0.5)  # the commission reports follow the executions
            for (
                f
            ) in ib.fills():  # ib_async attaches commission reports to these, not to reqExecutions' copies
                c, e = f.contract, f.execution
                if c.symbol != SYMBOL or c.secType not in ("STK", "OPT"):
                    continue
                mult = int(float(c.multiplier)) if c.multiplier else (100 if c.secType == "OPT" else 1)
                commission = f.commissionReport.commission if f.commissionReport.execId else 0.0
                self.seen[e.execId] = (c.secType, e.side, e.shares, e.price, mult, commission)
        finally:
            ib.disconnect()

    def realized(self) -> float:
        """Cash in minus cash out minus commissions: the P&L of a round trip that ends flat (dollars)."""
        cash = sum(
            (1 if side == "SLD" else -1) * qty * price * mult
            for _, side, qty, price, mult, _ in self.seen.values()
        )
        return cash - sum(x[5] for x in self.seen.values())


def ledger(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(select(cycles).where(cycles.c.symbol == SYMBOL).order_by(cycles.c.seq))
        ]


def newest_opportunities(engine: Engine, strategy: str, after_scan: int = 0) -> list[dict[str, Any]]:
    """Opportunities of ``strategy`` for SYMBOL in the newest finished scan (if newer than ``after_scan``)."""
    with engine.connect() as conn:
        scan = conn.execute(
            select(scans.c.id).where(scans.c.status == "done").order_by(scans.c.id.desc()).limit(1)
        ).scalar()
        if scan is None or scan <= after_scan:
            return []
        rows = conn.execute(
            select(opportunities)
            .where(
                opportunities.c.scan_id == scan,
                opportunities.c.symbol == SYMBOL,
                opportunities.c.strategy == strategy,
            )
            .order_by(opportunities.c.rank)
        ).all()
    return [dict(r._mapping) for r in rows]


def newest_scan(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(scans.c.id).order_by(scans.c.id.desc()).limit(1)).scalar() or 0)


def approve_best(
    client: Client, engine: Engine, strategy: str, svc: Service, after_scan: int = 0
) -> dict[str, Any]:
    """Approve the best ``strategy`` opportunity through the dashboard; a scan finishing in between makes
    the first try stale (409), so take the newest again."""

    def attempt() -> dict[str, Any] | None:
        opps = newest_opportunities(engine, strategy, after_scan)
        if not opps:
            return None
        status, answer = client.approve(opps[0]["id"])
        if status == 201:
            return {"opportunity": opps[0], "intent": answer["intent"]}
        assert status == 409, answer  # stale: a newer scan finished meanwhile
        return None

    result: dict[str, Any] = wait_for(f"a {strategy} opportunity approved", attempt, 120, svc)
    return result


def filled(client: Client, key: str) -> Any:
    orders = [o for o in client.get("/api/v1/orders")["orders"] if o["intent_key"] == key]
    return orders[0] if orders and orders[0]["status"] == "Filled" else None


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Service, str, Engine]]:
    svc, base = start_demo(tmp_path, STRATEGY, {"LOG_LEVEL": "INFO"})
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'demo.db'}")
    try:
        yield svc, base, engine
    finally:
        svc.stop()
        engine.dispose()


@pytest.mark.timeout(600)
def test_put_assigned_covered_call_called_away_new_put(service: tuple[Service, str, Engine]) -> None:
    svc, base, engine = service
    client = Client(base)
    control = Control(int(svc.env["THETAWHEEL_DEMO_CONTROL_PORT"]))
    sim_execs = SimExecutions(int(svc.env["THETAWHEEL_DEMO_PORT"]))
    wait_for("every component up", lambda: all_up(client), 120, svc)
    cash_before = control.call("GET", "/state")["cash"]

    # 1. sell a cash-secured put through the dashboard
    put = approve_best(client, engine, "CSP", svc)
    put_key, strike, expiry = put["intent"]["key"], put["opportunity"]["strike"], put["opportunity"]["expiry"]
    wait_for("the put to fill", lambda: filled(client, put_key), 60, svc)
    sim_execs.collect()
    wait_for("the cycle in stage put", lambda: [c for c in ledger(engine) if c["stage"] == "put"], 30, svc)

    # 2. the underlying falls below the strike and the clock passes the expiry: assignment
    control.settle_at(expiry, SYMBOL, round(strike * 0.97, 2))
    sim_execs.collect()
    (cycle,) = wait_for(
        "the assignment in the ledger", lambda: [c for c in ledger(engine) if c["stage"] == "shares"], 60, svc
    )
    assert cycle["shares"] == 100 and cycle["assignment_price"] == pytest.approx(strike)
    with engine.connect() as conn:
        legs = [
            dict(r._mapping)
            for r in conn.execute(select(cycle_legs).where(cycle_legs.c.cycle_id == cycle["id"]))
        ]
    assert [leg["kind"] for leg in legs] == ["sell_put", "put_assigned", "shares_assigned"]
    premium, commission = legs[0]["premium"], sum(leg["commission"] for leg in legs)
    assert premium > 0 and commission >= 1.0
    basis = (strike * 100 - premium + commission) / 100
    assert cycle["adjusted_cost_basis"] == pytest.approx(basis, abs=1e-6)

    # 3. covered calls at or above the basis; sell the best one
    control.price(SYMBOL, round(basis - 0.5, 2))
    scan_after_assignment = newest_scan(engine)
    calls = wait_for(
        "covered-call opportunities",
        lambda: newest_opportunities(engine, "CC", scan_after_assignment),
        120,
        svc,
    )
    assert all(c["strike"] >= basis and c["right"] == "C" for c in calls), calls
    assert calls[0]["cost_basis"] == pytest.approx(basis, abs=1e-4) and calls[0]["max_contracts"] == 1
    assert not newest_opportunities(engine, "CSP", scan_after_assignment)  # shares held: calls, not puts
    call = approve_best(client, engine, "CC", svc, scan_after_assignment)
    call_key, call_strike = call["intent"]["key"], call["opportunity"]["strike"]
    wait_for("the call to fill", lambda: filled(client, call_key), 60, svc)
    sim_execs.collect()
    wait_for("stage shares+call", lambda: [c for c in ledger(engine) if c["stage"] == "shares+call"], 30, svc)

    # 4. the underlying rises above the call's strike through its expiry: called away, cycle closed
    control.settle_at(call["opportunity"]["expiry"], SYMBOL, round(call_strike * 1.03, 2))
    sim_execs.collect()
    (closed,) = wait_for(
        "the closed cycle", lambda: [c for c in ledger(engine) if c["stage"] == "closed"], 60, svc
    )
    assert closed["shares"] == 0 and closed["closed_at"] is not None
    assert closed["realized_pnl"] == pytest.approx(sim_execs.realized(), abs=0.01), sim_execs.seen
    assert control.call("GET", "/state")["cash"] - cash_before == pytest.approx(
        closed["realized_pnl"], abs=0.01
    )
    assert closed["annualized_return"] is not None and closed["days_open"] > 0

    # 5. the wheel starts over: a new put for the symbol, and the Wheel page shows the history
    after = newest_scan(engine)
    wait_for("a new put opportunity", lambda: newest_opportunities(engine, "CSP", after), 120, svc)
    wheel = client.get("/api/v1/wheel")
    assert SYMBOL in json.dumps(wheel)

    # the ledger rebuilt from scratch gives the same cycles
    before = [{k: v for k, v in c.items() if k not in ("id", "updated_at")} for c in ledger(engine)]
    svc.stop()
    run = subprocess.run(
        [sys.executable, "-m", "shared.cli", "ledger", "rebuild", "--env-file", str(svc.root / ".env")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=svc.root,
        env={**svc.env, "DATABASE_URL": f"sqlite:///{svc.root / 'data' / 'demo.db'}"},
    )
    assert run.returncode == 0, run.stderr
    rebuilt = [{k: v for k, v in c.items() if k not in ("id", "updated_at")} for c in ledger(engine)]
    assert rebuilt == before


def _held_before(tmp_path: Path) -> tuple[Path, float]:
    """A simulator state file with 100 SYMBOL shares bought on an earlier day (TWS no longer reports the
    purchase), and their average cost per share."""
    state = tmp_path / "sim-state.json"
    sim = start_sim(178, "--state", str(state), control=True)
    try:
        ib = sim.connect(client_id=901, timeout=10)
        stock = Stock(SYMBOL, "SMART", "USD")
        ib.qualifyContracts(stock)
        trade = ib.placeOrder(stock, MarketOrder("BUY", 100))
        plain_wait("the share purchase", lambda: (ib.sleep(0.2), trade.orderStatus.status == "Filled")[1], 30)
        ib.disconnect()
        now = sim.state()["clock"]
        day = now[:10]
        sim.post("/clock", {"advance_to": f"{day}T23:59"})
        sim.post("/clock", {"advance_to": _next_day(day) + "T10:00"})
        (pos,) = [p for p in sim.state()["positions"] if p["symbol"] == SYMBOL]
        assert sim.state()["executions"] == 0
    finally:
        stop_clean(sim)
    return state, float(pos["avg_cost"])


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


@pytest.mark.timeout(300)
def test_preexisting_shares_get_calls_never_below_their_cost(tmp_path: Path) -> None:
    state, avg_cost = _held_before(tmp_path)
    svc, base = start_demo(
        tmp_path, STRATEGY, {"LOG_LEVEL": "INFO"}, {"THETAWHEEL_DEMO_SIM_STATE": str(state)}
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'demo.db'}")
    try:
        client = Client(base)
        wait_for("every component up", lambda: all_up(client), 120, svc)
        (cycle,) = wait_for("the opening cycle", lambda: ledger(engine), 60, svc)
        assert cycle["preexisting"] and cycle["stage"] == "shares" and cycle["shares"] == 100
        assert cycle["adjusted_cost_basis"] == pytest.approx(avg_cost, abs=1e-6)
        control = Control(int(svc.env["THETAWHEEL_DEMO_CONTROL_PORT"]))
        control.price(SYMBOL, round(avg_cost - 1.5, 2))  # calls near the money would lock in a loss
        after = newest_scan(engine)
        calls = wait_for("covered calls", lambda: newest_opportunities(engine, "CC", after), 120, svc)
        assert all(c["strike"] >= avg_cost for c in calls), [(c["strike"], avg_cost) for c in calls]
        assert calls[0]["cost_basis"] == pytest.approx(avg_cost, abs=1e-4)
        with engine.connect() as conn:
            detail = conn.execute(select(scans.c.detail).where(scans.c.id == calls[0]["scan_id"])).scalar()
        assert detail is not None
    finally:
        svc.stop()
        engine.dispose()
