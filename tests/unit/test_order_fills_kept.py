"""An order's recorded fills never go down: after a reconciliation recorded a roll as filled, a later
status of the same order without fills (ib_async builds a completed order's status with ``filled`` 0)
keeps the filled quantity, the remaining and the average price."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select

from executor.store import ExecutorStore
from shared.db import utcnow_iso
from shared.schema import orders

KEY = "TW-ROLL-KO-AWAY"


def _order(engine: Engine) -> None:
    now = utcnow_iso()
    with engine.begin() as conn:
        conn.execute(
            insert(orders).values(
                intent_key=KEY, order_id=16, client_id=12000, action="BUY", order_type="LMT", quantity=1,
                limit_price=-1.06, con_id=1, symbol="KO", local_symbol="KO    270115P00086000",
                status="Submitted", filled=0, created_at=now, updated_at=now,
            )
        )  # fmt: skip


def test_a_status_without_fills_keeps_the_fills_recorded(engine: Engine) -> None:
    _order(engine)
    store = ExecutorStore(engine)
    assert store.update_status(KEY, "Filled", 1, 0, -1.07, "filled while the executor was away")
    store.update_status(KEY, "Filled", 0, 0, None)  # the completed order's status, as ib_async builds it
    with engine.connect() as conn:
        row = conn.execute(select(orders).where(orders.c.intent_key == KEY)).one()
    assert (row.status, row.filled, row.remaining, row.avg_fill_price) == ("Filled", 1, 0, -1.07)
