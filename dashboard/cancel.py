"""Cancel a working order from the dashboard: a ``cancel_order`` command (``pending``) naming the order by its
intent key (the orderRef); the executor, which owns orders, claims it and cancels the order at TWS
(:mod:`executor.cancels`). The dashboard never talks to TWS.

An order can be cancelled while its intent is ``working`` and TWS has not finished it (not filled, cancelled,
or inactive). One pending request per order: a second click writes nothing and is refused (409).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Engine, and_, exists, select

from dashboard.commands import MAX_ACTOR, _insert_if
from dashboard.errors import ActionError
from dashboard.queries import Row
from shared import schema as s
from shared.db import utcnow_iso
from shared.trade import DONE_ORDER_STATUSES, CommandKind, IntentStatus

_DONE = sorted(str(status) for status in DONE_ORDER_STATUSES)


def cancellable(order: Row, intent_status: str | None) -> bool:
    """True when ``order`` (an ``orders`` row) is still working at TWS and its intent is ``working``."""
    return intent_status == IntentStatus.WORKING.value and order.get("status") not in _DONE


def pending_cancels(engine: Engine) -> set[str]:
    """Intent keys of orders whose cancel is requested and not yet acted on."""
    c = s.commands.c
    stmt = select(c.intent_key).where(c.kind == CommandKind.CANCEL_ORDER.value, c.status == "pending")
    with engine.connect() as conn:
        return {str(k) for k in conn.execute(stmt).scalars() if k}


def _pending(key: str) -> ColumnElement[bool]:
    c = s.commands.c
    return and_(c.kind == CommandKind.CANCEL_ORDER.value, c.intent_key == key, c.status == "pending")


def cancel_order(engine: Engine, order_id: int, actor: str, reason: str = "") -> Row:
    """Request the cancel of order ``order_id`` (the ``orders`` row id): a ``cancel_order`` command
    (``pending``) the executor acts on. 404 unknown order; 409 when the order is no longer working or a
    cancel is already requested. Returns the command row."""
    o, i = s.orders.c, s.intents.c
    with engine.begin() as conn:
        found = conn.execute(
            select(o.intent_key, o.con_id, o.local_symbol, o.status, i.status.label("intent_status"))
            .join(s.intents, i.key == o.intent_key, isouter=True)
            .where(o.id == order_id)
        ).first()
        if found is None:
            raise ActionError(404, f"order {order_id} does not exist", "order_id")
        order = dict(found._mapping)
        if not cancellable(order, order["intent_status"]):
            raise ActionError(
                409,
                f"order {order['intent_key']} ({order['local_symbol']}) is not working "
                f"(order {order['status']}, intent {order['intent_status']}): nothing to cancel",
                "order_id",
                intent_key=order["intent_key"],
            )
        values = {
            "kind": CommandKind.CANCEL_ORDER.value,
            "con_id": order["con_id"],
            "intent_key": order["intent_key"],
            "reason": reason,
            "actor": actor[:MAX_ACTOR],
            "created_at": utcnow_iso(),
            "status": "pending",
        }
        row = _insert_if(conn, values, ~exists().where(_pending(order["intent_key"])))
    if row is None:
        raise ActionError(
            409,
            f"a cancel of order {order['intent_key']} is already requested",
            "order_id",
            intent_key=order["intent_key"],
        )
    return row
