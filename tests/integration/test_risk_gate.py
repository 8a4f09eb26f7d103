"""The executor's risk gate refuses an intent before TWS sees it — the intent ``rejected`` with the reason and
the number that failed, a ``risk`` alert, no order row, no order at TWS — while closing orders stay allowed
under a halt:

- a cash-secured put beyond the account's buying power;
- a new put while the user's halt switch is on (a ``commands`` row, as the dashboard writes it), while a
  buy-to-close goes through;
- any order, a close too, outside the NYSE's regular hours (the simulator's clock moved to the evening);
- a new put once the monitor's daily-loss limit has halted new positions for the day (a real loss: a short
  put on a small account and the stock crashed), while a buy-to-close goes through.

Real parts: the simulator over TCP (``--hours rth``, its clock inside a regular session, its control
interface to move the price and the clock), the monitor and executor as processes with
``MARKET_HOURS=exchange``, one SQLite file. A test client (client 0, which sees every client's orders) picks
contracts and reads TWS's orders.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, Option
from procs import Proc, approve_intent, put_below, sim_and_db, spot
from simproc import Sim
from sqlalchemy import Engine, insert, select
from waiting import wait_for

from shared.db import schema_ready, utcnow_iso
from shared.schema import alerts, commands, intents, orders, risk_state

REFUSED = "refused by the risk gate before TWS: "


@pytest.fixture
def service(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Sim, Engine, IB, Path]]:
    cash = getattr(request, "param", None)
    sim_args = ("--cash", str(cash)) if cash else ()
    with sim_and_db(tmp_path, sim_args=sim_args, hours="rth", control=True, MARKET_HOURS="exchange") as (
        sim,
        engine,
    ):
        monitor = Proc("monitor", tmp_path)
        executor = Proc("executor", tmp_path)
        observer = sim.connect(client_id=0)  # client 0 sees every client's orders, as in TWS
        try:
            wait_for("the schema", lambda: schema_ready(engine))
            yield sim, engine, observer, tmp_path
        finally:
            observer.disconnect()
            assert executor.stop() == 0
            assert monitor.stop() == 0


def ended(engine: Engine, key: str) -> Any:
    """The intent once it is no longer approved / placing / working."""
    with engine.connect() as conn:
        row = conn.execute(select(intents).where(intents.c.key == key)).first()
    return row if row is not None and row.status not in ("approved", "placing", "working") else None


def assert_refused(engine: Engine, observer: IB, root: Path, key: str, *words: str) -> str:
    """Wait for ``key`` to end; assert the gate refused it (reason with ``words``, an alert) before TWS."""
    row = wait_for(f"the refusal of {key}", lambda: ended(engine, key), 60)
    assert row.status == "rejected", (row.status, row.status_reason)
    assert row.status_reason.startswith(REFUSED), row.status_reason
    for word in words:
        assert word in row.status_reason, row.status_reason
    with engine.connect() as conn:
        assert conn.execute(select(orders).where(orders.c.intent_key == key)).first() is None
        (alert,) = conn.execute(select(alerts).where(alerts.c.dedup_key == f"risk:{key}")).all()
    assert alert.category == "risk" and alert.severity == "warning" and row.status_reason in alert.body
    observer.reqAllOpenOrders()
    done = observer.reqCompletedOrders(False)
    assert key not in {t.order.orderRef for t in [*observer.openTrades(), *done]}
    assert f"orderRef={key} " not in (root / "logs" / "executor.log").read_text()
    return str(row.status_reason)


def assert_filled(engine: Engine, key: str) -> None:
    row = wait_for(f"{key} to fill", lambda: ended(engine, key), 60)
    assert row.status == "filled", (row.status, row.status_reason)


def command(engine: Engine, kind: str, actor: str = "dashboard 127.0.0.1") -> None:
    """A halt / resume command, as the dashboard records it."""
    with engine.begin() as conn:
        conn.execute(
            insert(commands).values(
                kind=kind, actor=actor, reason="test", created_at=utcnow_iso(), status="pending"
            )
        )


def close(engine: Engine, key: str, option: Any) -> None:
    """A buy-to-close intent of one short ``option`` (no maximum debit)."""
    approve_intent(engine, key, option, kind="buy_to_close", action="BUY")


@pytest.mark.timeout(150)
def test_over_collateral_halt_switch_and_closed_market_are_refused_before_tws(
    service: tuple[Sim, Engine, IB, Path],
) -> None:
    sim, engine, observer, root = service
    clock = sim.state()["clock"]
    put = put_below(observer, spot(observer), clock, days=28)

    # a put the account can carry passes the gate and fills
    approve_intent(engine, "TW-GATE-OK", put)
    assert_filled(engine, "TW-GATE-OK")

    # 1. beyond buying power: SPY puts × 3 tie up far more than the $100,000 account
    details = observer.reqContractDetails(Option("SPY", "", 0.0, "P", "SMART"))
    spy: Any = details[len(details) // 2].contract
    approve_intent(engine, "TW-GATE-BIG", spy, quantity=3)
    reason = assert_refused(engine, observer, root, "TW-GATE-BIG", f"3 SPY put(s) at {spy.strike:g} need $")
    assert "available funds $" in reason or "max_symbol_fraction" in reason

    # 2. the halt switch: no new put, but the short put can be bought back
    command(engine, "halt")
    other = put_below(observer, spot(observer) - 3, clock, days=28)
    approve_intent(engine, "TW-GATE-HALTED", other)
    assert_refused(engine, observer, root, "TW-GATE-HALTED", "trading is halted by dashboard 127.0.0.1")
    close(engine, "TW-GATE-CLOSE", put)
    assert_filled(engine, "TW-GATE-CLOSE")

    # 3. the evening: every order is refused, a close too, by the exchange calendar
    day = clock[:10]
    sim.post("/clock", {"advance_to": f"{day}T20:00"})
    close(engine, "TW-GATE-NIGHT", other)
    assert_refused(engine, observer, root, "TW-GATE-NIGHT", "outside regular trading hours", f"{day} 20:0")


def daily_loss(engine: Engine) -> Any:
    with engine.connect() as conn:
        row = conn.execute(select(risk_state).where(risk_state.c.id == 1)).first()
    return row if row is not None and row.daily_loss_halt else None


@pytest.mark.timeout(150)
@pytest.mark.parametrize("service", [50_000], indirect=True)
def test_daily_loss_halt_blocks_new_puts_but_not_closes(service: tuple[Sim, Engine, IB, Path]) -> None:
    sim, engine, observer, root = service
    clock = sim.state()["clock"]
    price = spot(observer)
    put = put_below(observer, price, clock, days=28)  # strike × 100 < 20 % of $50,000
    approve_intent(engine, "TW-LOSS-PUT", put)
    assert_filled(engine, "TW-LOSS-PUT")

    # the stock crashes: the short put loses far more than 3 % of the account
    sim.post("/market/KO", {"price": round(price * 0.6, 2)})
    halted = wait_for("the daily-loss halt", lambda: daily_loss(engine), 60)
    assert halted.trading_day == clock[:10]

    approve_intent(engine, "TW-LOSS-NEW", put_below(observer, price - 3, clock, days=28))
    assert_refused(engine, observer, root, "TW-LOSS-NEW", "daily loss $", "new positions halted")
    close(engine, "TW-LOSS-CLOSE", put)
    assert_filled(engine, "TW-LOSS-CLOSE")
