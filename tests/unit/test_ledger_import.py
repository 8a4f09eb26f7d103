"""The monitor copies the executor's recorded fills into the ledger's executions (``import_fills``): both
legs of a roll are booked as the options they are, never as the combo (BAG) of their intent — seen when a
leg's commission reached the executor before the monitor's own copy of TWS's report had one."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select

from shared.db import utcnow_iso
from shared.ledgerstore import import_fills
from shared.schema import executions, fills, intent_legs, intents

KEY = "TW-MGT-DTE-ROLL-KO270108P00086000-D1"
OLD, NEW = 1001, 1002


def _seed_roll(engine: Engine) -> None:
    now = utcnow_iso()
    with engine.begin() as conn:
        conn.execute(
            insert(intents).values(
                key=KEY, source="monitor", kind="roll", action="BUY", sec_type="BAG", symbol="KO",
                con_id=OLD, local_symbol="KO    270108P00086000", expiry="20270108", strike=86.0, right="P",
                quantity=1, limit_floor=-0.01, status="filled", created_at=now, updated_at=now,
            )
        )  # fmt: skip
        for no, (con_id, action, local, expiry) in enumerate(
            [
                (OLD, "BUY", "KO    270108P00086000", "20270108"),
                (NEW, "SELL", "KO    270122P00086000", "20270122"),
            ],
            start=1,
        ):
            conn.execute(
                insert(intent_legs).values(
                    intent_key=KEY, leg_no=no, con_id=con_id, action=action, ratio=1, sec_type="OPT",
                    symbol="KO", local_symbol=local, expiry=expiry, strike=86.0, right="P",
                )
            )  # fmt: skip
        for exec_id, con_id, side, price, local in [
            ("E1", OLD, "BOT", 0.52, "KO    270108P00086000"),
            ("E2", NEW, "SLD", 0.84, "KO    270122P00086000"),
            ("E3", 28812380, "BOT", -0.32, "KO"),  # the combo's own execution: not a wheel leg
        ]:
            conn.execute(
                insert(fills).values(
                    exec_id=exec_id, intent_key=KEY, order_id=51, perm_id=7, con_id=con_id, symbol="KO",
                    local_symbol=local, side=side, quantity=1, price=price, time=now, commission=0.65,
                )
            )  # fmt: skip


def test_both_legs_of_a_roll_are_booked_as_options(engine: Engine) -> None:
    _seed_roll(engine)
    assert import_fills(engine) == 2
    with engine.connect() as conn:
        rows = {r.exec_id: r for r in conn.execute(select(executions)).all()}
    assert set(rows) == {"E1", "E2"}
    assert {r.sec_type for r in rows.values()} == {"OPT"}
    assert (rows["E1"].expiry, rows["E1"].side, rows["E1"].multiplier) == ("20270108", "BOT", 100)
    assert (rows["E2"].expiry, rows["E2"].side, rows["E2"].strike, rows["E2"].right) == (
        "20270122",
        "SLD",
        86.0,
        "P",
    )
    assert import_fills(engine) == 0  # nothing twice
