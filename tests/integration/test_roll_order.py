"""A roll is one combo (BAG) order: buy to close the old short put and sell to open a later one of the same
strike, for a net credit at least the intent's minimum; TWS sees one order, both legs' fills are recorded with
their commissions, the position moves to the new contract, the monitor's ledger books both legs in the same
wheel cycle, and one fill alert says what the roll took in. A restarted executor that lost the order row of a
resting roll adopts TWS's order by its orderRef instead of placing a second one.

Real parts: the simulator over TCP (its control interface for the state view), the monitor and executor as
processes, one SQLite file. A test client (client 0, which sees every client's orders, as in TWS) picks the
contracts and reads TWS's orders. The simulator's clock runs inside a regular session (``--start``), and the
processes use the exchange calendar (``MARKET_HOURS=exchange``).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from procs import Proc, approve_intent, approve_roll, put_below, same_strike, sim_and_db, spot
from sqlalchemy import Engine, delete, select, update
from waiting import wait_for

from shared.db import schema_ready
from shared.schema import alerts, cycle_legs, cycles, fills, intents, order_legs, orders, positions

SELL_KEY = "TW-CSP-KO-ROLLTEST"
ROLL_KEY = "TW-ROLL-KO-ROLLTEST"
AWAY_KEY = "TW-ROLL-KO-AWAY"
REST_KEY = "TW-ROLL-KO-RESTING"
MIN_CREDIT = 0.05  # dollars per share


def intent(engine: Engine, key: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(intents).where(intents.c.key == key)).first()


def ended(engine: Engine, key: str) -> Any:
    """The intent once it is no longer approved / placing / working."""
    row = intent(engine, key)
    return row if row is not None and row.status not in ("approved", "placing", "working") else None


def rows(engine: Engine, table: Any, key: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(table).where(table.c.intent_key == key)).all())


def ko_cycle_legs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(cycle_legs.c.cycle_id, cycle_legs.c.kind, cycle_legs.c.con_id, cycles.c.stage)
                .join(cycles, cycles.c.id == cycle_legs.c.cycle_id)
                .where(cycles.c.symbol == "KO")
                .order_by(cycle_legs.c.seq)
            ).all()
        )


def held(engine: Engine) -> dict[int, float]:
    with engine.connect() as conn:
        return {r.con_id: r.quantity for r in conn.execute(select(positions.c.con_id, positions.c.quantity))}


def short_options(sim: Any) -> dict[int, float]:
    """The simulator's option positions (conId → contracts)."""
    return {p["con_id"]: p["position"] for p in sim.state()["positions"] if p["sec_type"] == "OPT"}


def at_sim(sim: Any, key: str) -> bool:
    """An order with this orderRef works at the simulator."""
    return any(o["order_ref"] == key for o in sim.state()["open_orders"])


def refs_at_tws(observer: Any, key: str) -> list[Any]:
    observer.reqAllOpenOrders()
    observer.sleep(0.3)
    return [t for t in observer.openTrades() if t.order.orderRef == key]


@pytest.mark.timeout(120)
def test_a_roll_is_one_combo_order_for_a_net_credit(tmp_path: Path) -> None:
    # orders fill 2 s after they reach TWS: time to freeze the executor in between (step 5)
    with sim_and_db(tmp_path, sim_args=("--fill-delay", "2"), control=True, MARKET_HOURS="exchange") as (
        sim,
        engine,
    ):
        monitor = Proc("monitor", tmp_path)
        executor = Proc("executor", tmp_path)
        observer = sim.connect(client_id=0)
        try:
            wait_for("the schema", lambda: schema_ready(engine))
            old = put_below(observer, spot(observer), sim.state()["clock"], days=28)  # past the roll rule
            new = same_strike(observer, old, days=14)
            further = same_strike(observer, new, days=14)
            furthest = same_strike(observer, further, days=14)

            # 1. the short put to roll
            approve_intent(engine, SELL_KEY, old)
            sold = wait_for("the put sold", lambda: ended(engine, SELL_KEY), 60)
            assert sold.status == "filled", sold.status_reason

            # 2. the roll: one BAG order, both legs filled for a net credit ≥ the minimum
            approve_roll(engine, ROLL_KEY, old, new, MIN_CREDIT)
            rolled = wait_for("the roll", lambda: ended(engine, ROLL_KEY), 60)
            assert rolled.status == "filled", rolled.status_reason
            assert "combo" in rolled.status_reason and "credit" in rolled.status_reason
            (order,) = rows(engine, orders, ROLL_KEY)
            assert order.status == "Filled" and order.action == "BUY" and order.quantity == 1
            assert order.limit_price <= -MIN_CREDIT  # never above the floor (−min credit)
            legs = sorted(rows(engine, order_legs, ROLL_KEY), key=lambda r: r.leg_no)
            assert [(r.con_id, r.action, r.ratio) for r in legs] == [
                (old.conId, "BUY", 1),
                (new.conId, "SELL", 1),
            ]
            recorded = wait_for(
                "both legs' fills with commissions",
                lambda: (
                    (f := rows(engine, fills, ROLL_KEY))
                    and len(f) == 2
                    and all(r.commission is not None for r in f)
                    and f
                ),
                30,
            )
            by_con = {r.con_id: r for r in recorded}
            assert by_con[old.conId].side == "BOT" and by_con[new.conId].side == "SLD"
            assert all(r.quantity == 1 and r.order_id == order.order_id for r in recorded)
            credit = by_con[new.conId].price - by_con[old.conId].price
            assert credit >= MIN_CREDIT - 1e-9
            assert order.avg_fill_price == pytest.approx(-credit, abs=1e-6)

            # one fill alert, in the user's words
            (alert,) = wait_for(
                "the roll's fill alert",
                lambda: rows_where(engine, alerts.c.dedup_key == f"fill:{ROLL_KEY}"),
                40,
            )
            assert alert.title.startswith("Rolled 1 KO ") and " → KO " in alert.title
            assert alert.title.endswith(f"for ${credit:.2f}/share net credit"), alert.title

            # 3. the position moved to the new contract, at TWS and in the monitor's copy
            assert short_options(sim) == {new.conId: -1}
            wait_for(
                "the monitor's positions",
                lambda: (h := held(engine)).get(new.conId) == -1 and old.conId not in h,
                30,
            )

            # 4. the ledger books both legs in the put's cycle
            booked = wait_for(
                "the roll in the ledger",
                lambda: (c := ko_cycle_legs(engine)) and len(c) == 3 and c,
                30,
            )
            assert [r.kind for r in booked] == ["sell_put", "buy_put", "sell_put"]
            assert [r.con_id for r in booked] == [old.conId, old.conId, new.conId]
            assert len({r.cycle_id for r in booked}) == 1 and booked[0].stage == "put"

            # 5. a roll that fills while the executor is frozen is found by reconciliation after a restart:
            # filled once, at its net price, both legs recorded, alerted once, never placed again
            approve_roll(engine, AWAY_KEY, new, further, MIN_CREDIT)
            wait_for("the roll at TWS", lambda: at_sim(sim, AWAY_KEY), 30, interval=0.05)
            executor.proc.send_signal(signal.SIGSTOP)  # frozen before the fill (--fill-delay 2)
            options = wait_for("the fill at TWS", lambda: short_options(sim).get(further.conId) == -1 and 1)
            executor.proc.send_signal(signal.SIGKILL)
            executor.proc.wait(10)
            executor.stop()
            assert intent(engine, AWAY_KEY).status == "working"  # the executor saw nothing of the fill
            executor = Proc("executor", tmp_path)
            away = wait_for("the roll reconciled", lambda: ended(engine, AWAY_KEY), 60)
            assert away.status == "filled", away.status_reason
            legs_filled = wait_for(
                "the legs' fills", lambda: (f := rows(engine, fills, AWAY_KEY)) and len(f) == 2 and f, 30
            )
            prices = {r.con_id: (r.side, r.price) for r in legs_filled}
            assert prices[new.conId][0] == "BOT" and prices[further.conId][0] == "SLD"
            (order,) = rows(engine, orders, AWAY_KEY)
            net = prices[new.conId][1] - prices[further.conId][1]
            assert order.status == "Filled" and order.filled == 1
            assert order.avg_fill_price == pytest.approx(net, abs=1e-6) and net <= -MIN_CREDIT + 1e-9
            (alert,) = wait_for(
                "one fill alert", lambda: rows_where(engine, alerts.c.dedup_key == f"fill:{AWAY_KEY}"), 40
            )
            assert alert.title.endswith(f"for ${-net:.2f}/share net credit") and alert.repeat_count == 1
            assert options == 1 and short_options(sim) == {further.conId: -1}

            # 6. a resting roll survives a crash that lost its order row: adopted, not placed again
            approve_roll(engine, REST_KEY, further, furthest, min_credit=20.0)  # far above the market: rests
            first = wait_for(
                "the resting roll at TWS",
                lambda: (r := rows(engine, orders, REST_KEY)) and r[0].status == "Submitted" and r[0],
                60,
            )
            assert first.limit_price == -20.0
            assert len(refs_at_tws(observer, REST_KEY)) == 1
            executor.signal(signal.SIGKILL)
            executor.stop()
            with engine.begin() as conn:  # an older backup restored: the order row is gone
                conn.execute(delete(order_legs).where(order_legs.c.intent_key == REST_KEY))
                conn.execute(delete(orders).where(orders.c.intent_key == REST_KEY))
                conn.execute(update(intents).where(intents.c.key == REST_KEY).values(status="approved"))
            executor = Proc("executor", tmp_path)
            adopted = wait_for("the roll adopted", lambda: (r := rows(engine, orders, REST_KEY)) and r[0], 60)
            assert adopted.order_id == first.order_id
            assert len(rows(engine, order_legs, REST_KEY)) == 2
            wait_for("the intent working", lambda: intent(engine, REST_KEY).status == "working", 30)
            assert len(refs_at_tws(observer, REST_KEY)) == 1
            assert "adopting it, not placing again" in (tmp_path / "logs" / "executor.log").read_text()
        finally:
            observer.disconnect()
            assert executor.stop() == 0
            assert monitor.stop() == 0


def rows_where(engine: Engine, condition: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(alerts).where(condition)).all())
