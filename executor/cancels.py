"""The executor's cancels asked for from the dashboard: every second, claim the ``cancel_order`` commands
(``pending`` → ``done``) and cancel each named order at TWS.

The command names the order by its intent key (the orderRef). An ``order_events`` row records the request
(``cancel requested from the dashboard by …``); once TWS confirms, the intent (``cancelled`` by then) gets the
same reason. An order TWS no longer works (filled meanwhile, or another client's) is left alone and logged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ib_async import Trade
from sqlalchemy import Engine, select, update

from executor.repricer import RepriceStore, cancel_with_reason
from shared.db import utcnow_iso
from shared.schema import commands
from shared.trade import CommandKind

if TYPE_CHECKING:
    from shared.runtime import Component

#: Seconds between two looks for cancel requests.
CHECK_SECONDS = 1.0


class CancelStore(RepriceStore):
    """Claims of ``cancel_order`` commands (the dashboard writes them; the executor marks them done)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)

    def claim(self) -> list[tuple[str, str, str]]:
        """Mark every pending ``cancel_order`` command done; (intent key, actor, reason) of each."""
        c = commands.c
        pending = (c.kind == CommandKind.CANCEL_ORDER.value) & (c.status == "pending")
        with self.engine.begin() as conn:
            rows = conn.execute(select(c.id, c.intent_key, c.actor, c.reason).where(pending)).all()
            claimed = []
            for row in rows:
                done = conn.execute(
                    update(commands)
                    .where(c.id == row.id, c.status == "pending")
                    .values(status="done", done_at=utcnow_iso())
                )
                if done.rowcount and row.intent_key:
                    claimed.append((str(row.intent_key), str(row.actor), str(row.reason or "")))
        return claimed


class Cancels:
    """The job that carries out the dashboard's cancel requests for one executor."""

    def __init__(self, component: Component) -> None:
        self.component = component
        self.store = CancelStore(component.engine)
        self.log: logging.Logger = component.log

    def schedule(self) -> None:
        """Add the job to the component's scheduler."""
        self.component.add_job(self.run, CHECK_SECONDS, "cancels", first_now=False)

    async def run(self) -> None:
        """Claim the pending requests (only while connected) and cancel each order at TWS."""
        ib = self.component.ib
        if not ib.isConnected() or self.component.stop_event.is_set():
            return
        for key, actor, reason in self.store.claim():
            why = f"cancelled from the dashboard by {actor}" + (f": {reason}" if reason else "")
            trade = self._trade(key)
            if trade is None:
                self.log.warning("cancel of %s asked for, but no order of this client works at TWS", key)
                continue
            cancel_with_reason(self.component.ib, self.store, key, trade, why, self.log)

    def _trade(self, key: str) -> Trade | None:
        mine = self.component.ib.client.clientId
        for trade in self.component.ib.openTrades():
            if trade.order.orderRef == key and trade.order.clientId == mine:
                return trade
        return None
