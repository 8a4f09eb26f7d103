"""The executor's database writes: claiming intents, recording orders, status changes and fills.

Claiming is atomic (``UPDATE … WHERE status = 'approved' … RETURNING``) so an intent is placed by
exactly one executor. Fills are recorded once per ``execId``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, insert, literal, select, text, update

from shared.db import insert_new, parse_ts, upsert, utcnow_iso
from shared.schema import alerts, fills, intent_legs, intents, order_events, order_legs, orders
from shared.trade import (
    ACTIVE_INTENT_STATUSES,
    EXECUTOR_INTENT_STATUSES,
    Action,
    Intent,
    IntentStatus,
    Leg,
    Right,
)


def _leg(r: Any) -> Leg:
    """A typed :class:`Leg` from an ``intent_legs`` or ``order_legs`` row."""
    return Leg(
        con_id=r.con_id,
        action=Action(r.action),
        ratio=r.ratio,
        local_symbol=r.local_symbol,
        sec_type=r.sec_type,
        symbol=r.symbol,
        expiry=r.expiry,
        strike=r.strike,
        right=Right(r.right) if r.right else None,
    )


class ExecutorStore:
    """Reads and writes the executor's tables through ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _intent(conn: Connection, row: Any) -> Intent:
        """A typed :class:`Intent` from its row and its ``intent_legs`` (none: its own contract)."""
        il = intent_legs.c
        legs = tuple(
            _leg(r)
            for r in conn.execute(select(intent_legs).where(il.intent_key == row.key).order_by(il.leg_no))
        )
        return Intent.from_row(row._mapping, legs)

    def claim_next_intent(self) -> Intent | None:
        """Atomically move the oldest ``approved`` intent to ``placing`` and return it (or ``None``)."""
        now = utcnow_iso()
        with self.engine.begin() as conn:
            row = conn.execute(
                text(
                    "UPDATE intents SET status = :placing, updated_at = :now "
                    "WHERE id = (SELECT id FROM intents WHERE status = :approved ORDER BY id LIMIT 1) "
                    "AND status = :approved RETURNING *"
                ),
                {"now": now, "placing": IntentStatus.PLACING.value, "approved": IntentStatus.APPROVED.value},
            ).first()
            return self._intent(conn, row) if row else None

    def active_intents(self) -> list[Intent]:
        """Intents the executor claimed (``placing``) or placed (``working``) that are not finished."""
        statuses = sorted(s.value for s in EXECUTOR_INTENT_STATUSES)
        with self.engine.connect() as conn:
            rows = conn.execute(select(intents).where(intents.c.status.in_(statuses))).all()
            return [self._intent(conn, r) for r in rows]

    def intent(self, key: str) -> Intent | None:
        """The intent ``key`` with its legs (``None``: no such intent)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(intents).where(intents.c.key == key)).first()
            return self._intent(conn, row) if row else None

    def order_legs_of(self, intent_key: str) -> list[Leg]:
        """The legs recorded with an intent's order (``order_legs``, in leg order; empty: none)."""
        ol = order_legs.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(order_legs).where(ol.intent_key == intent_key).order_by(ol.leg_no))
            return [_leg(r) for r in rows]

    def order_for(self, intent_key: str) -> dict[str, Any] | None:
        """The ``orders`` row of an intent, if one was ever recorded."""
        with self.engine.connect() as conn:
            row = conn.execute(select(orders).where(orders.c.intent_key == intent_key)).first()
        return dict(row._mapping) if row else None

    def set_intent(
        self,
        key: str,
        status: IntentStatus,
        reason: str = "",
        *,
        only_from: Iterable[IntentStatus] = ACTIVE_INTENT_STATUSES,
    ) -> bool:
        """Move an intent to ``status`` with its reason, only from one of ``only_from`` (by default the
        active statuses: a final status — filled, cancelled, rejected, failed — is never overwritten).
        Returns True when the intent changed."""
        allowed = sorted(s.value for s in only_from)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(intents)
                .where(intents.c.key == key, intents.c.status.in_(allowed))
                .values(status=status.value, status_reason=reason[:1000], updated_at=utcnow_iso())
            )
        return bool(result.rowcount)

    def intent_updated_at(self, key: str) -> datetime | None:
        """When the intent last changed (aware UTC), or ``None`` when it does not exist."""
        with self.engine.connect() as conn:
            raw = conn.execute(select(intents.c.updated_at).where(intents.c.key == key)).scalar()
        return parse_ts(raw) if raw else None

    def filled_without_alert(self) -> list[str]:
        """Keys of filled intents whose fill alert is not in the outbox (dedup key ``fill:<key>``)."""
        i = intents.c
        sent = select(alerts.c.id).where(alerts.c.dedup_key == literal("fill:") + i.key)
        stmt = select(i.key).where(i.status == IntentStatus.FILLED.value, ~exists(sent)).order_by(i.id)
        with self.engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    def record_order(self, intent: Intent, values: dict[str, Any], message: str = "order recorded") -> None:
        """Insert (or, for an adopted order, update) the order row of ``intent`` and its legs; logs an
        order event."""
        now = utcnow_iso()
        row = {
            "intent_key": intent.key,
            "con_id": intent.con_id,
            "symbol": intent.symbol,
            "local_symbol": intent.local_symbol,
            "action": intent.action.value,
            "quantity": intent.quantity,
            "order_type": "LMT",
            "created_at": now,
            "updated_at": now,
            "status": "PendingSubmit",
            "filled": 0.0,
        } | values
        with self.engine.begin() as conn:
            upsert(conn, orders, row, key=("intent_key",), keep=("created_at",))
            conn.execute(delete(order_legs).where(order_legs.c.intent_key == intent.key))
            for n, leg in enumerate(intent.legs, start=1):
                conn.execute(
                    insert(order_legs).values(
                        intent_key=intent.key,
                        leg_no=n,
                        con_id=leg.con_id,
                        action=leg.action.value,
                        ratio=leg.ratio,
                        sec_type=leg.sec_type,
                        symbol=leg.symbol,
                        local_symbol=leg.local_symbol,
                        expiry=leg.expiry,
                        strike=leg.strike,
                        right=leg.right.value if leg.right else None,
                    )
                )
            conn.execute(
                order_events.insert().values(
                    intent_key=intent.key,
                    ts=now,
                    status=row["status"],
                    filled=row["filled"],
                    remaining=row.get("remaining"),
                    message=message[:500],
                )
            )

    def update_status(
        self,
        key: str,
        status: str,
        filled: float,
        remaining: float,
        avg_price: float | None,
        message: str = "",
        perm_id: int | None = None,
    ) -> bool:
        """Record an IB order status; returns True when it changed anything. The filled quantity never goes
        down: a status that carries no fills (ib_async builds a completed order's with ``filled`` 0) keeps
        the fills, remaining and average price already recorded."""
        now = utcnow_iso()
        o = orders.c
        with self.engine.begin() as conn:
            columns = (o.status, o.filled, o.remaining, o.avg_fill_price, o.perm_id)
            cur = conn.execute(select(*columns).where(o.intent_key == key)).first()
            if cur is None:
                return False
            if cur.filled and filled < cur.filled:
                filled, remaining, avg_price = cur.filled, cur.remaining, cur.avg_fill_price
            if cur.status == status and cur.filled == filled and (not perm_id or cur.perm_id == perm_id):
                return False
            conn.execute(
                update(orders)
                .where(orders.c.intent_key == key)
                .values(
                    status=status,
                    filled=filled,
                    remaining=remaining,
                    avg_fill_price=avg_price or None,
                    perm_id=perm_id or cur.perm_id,
                    updated_at=now,
                )
            )
            conn.execute(
                order_events.insert().values(
                    intent_key=key,
                    ts=now,
                    status=status,
                    filled=filled,
                    remaining=remaining,
                    message=message[:500],
                )
            )
        return True

    def record_fill(self, key: str, values: dict[str, Any]) -> bool:
        """Insert a fill once per execId; True when it was new."""
        with self.engine.begin() as conn:
            return insert_new(conn, fills, {"intent_key": key, **values}, key=("exec_id",))

    def record_commission(
        self, exec_id: str, commission: float, currency: str, realized_pnl: float | None
    ) -> None:
        """Attach IB's commission report to its fill."""
        with self.engine.begin() as conn:
            conn.execute(
                update(fills)
                .where(fills.c.exec_id == exec_id)
                .values(commission=commission, currency=currency, realized_pnl=realized_pnl)
            )

    def fills_of(self, key: str) -> list[dict[str, Any]]:
        """All fills of an intent."""
        with self.engine.connect() as conn:
            return [
                dict(r._mapping) for r in conn.execute(select(fills).where(fills.c.intent_key == key)).all()
            ]
