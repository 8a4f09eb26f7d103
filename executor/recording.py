"""The executor's bookkeeping of what TWS reports for its orders: status changes, executions, commission
reports, broker rejections, and the fill alert — sent exactly once per intent, with its commission,
whichever path found the fill (a live event, reconciliation after a restart or a reconnection, a TWS
restart).

The fill alert is not tied to one event: :meth:`OrderBook.alert_fills` looks for filled intents whose
alert is not in the outbox yet and sends it once every fill has its commission (or, if a commission
report never comes, after :data:`COMMISSION_GRACE_SECONDS`, saying so). The outbox row (dedup key
``fill:<intent key>``) is the record that it was sent.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ib_async import CommissionReport, Fill, Trade

from executor.combo import Executed, filled_units, net_price, roll_fill_text
from executor.lifecycle import rejection_reason
from executor.store import ExecutorStore
from shared.db import parse_ts, utcnow
from shared.trade import DONE_ORDER_STATUSES, IntentStatus, OrderStatus

S = IntentStatus
#: Seconds a filled intent waits for its commission reports before it is alerted without them.
COMMISSION_GRACE_SECONDS = 20.0

#: alert(severity, category, title, body, dedup_key)
AlertFn = Callable[..., None]


def fill_values(fill: Fill) -> dict[str, object]:
    """A ``fills`` row's values (without the intent key) from an ib_async ``Fill``."""
    e, c = fill.execution, fill.contract
    return {
        "exec_id": e.execId,
        "order_id": e.orderId,
        "perm_id": e.permId,
        "con_id": c.conId,
        "symbol": c.symbol,
        "local_symbol": c.localSymbol or c.symbol,
        "side": e.side,
        "quantity": e.shares,
        "price": e.price,
        "time": e.time.isoformat(),
    }


def filled_reason(filled: float, avg_price: float, sec_type: str = "OPT") -> str:
    """The intent's reason when its order filled: ``filled 1 @ 0.52``; a combo's net price says whether it
    was a credit (IB's sign: negative) or a debit, e.g. ``filled 1 combo @ -0.35 net (credit 0.35/share)``."""
    if sec_type != "BAG":
        return f"filled {filled:g} @ {avg_price:.2f}"
    kind = "credit" if avg_price < 0 else "debit"
    return f"filled {filled:g} combo @ {avg_price:.2f} net ({kind} {abs(avg_price):.2f}/share)"


class OrderBook:
    """Records TWS's reports for the executor's orders into its tables and raises the order alerts."""

    def __init__(self, store: ExecutorStore, log: logging.Logger, alert: AlertFn) -> None:
        self.store = store
        self.log = log
        self.alert = alert

    # -- status --------------------------------------------------------------------------------------
    def record_status(self, trade: Trade) -> None:
        """Store an order's IB status; a final status ends its intent (filled, cancelled or rejected)."""
        key = trade.order.orderRef
        order = self.store.order_for(key) if key else None
        if order is None:
            return
        st = trade.orderStatus
        last = trade.log[-1] if trade.log else None
        message = last.message if last is not None and last.message else ""
        changed = self.store.update_status(
            key, st.status, st.filled, st.remaining, st.avgFillPrice, message, perm_id=trade.order.permId
        )
        if not changed:
            return
        if st.status == OrderStatus.FILLED:
            why = (
                filled_reason(st.filled, st.avgFillPrice, trade.contract.secType)
                if st.filled > 0
                else "filled at TWS (found among the day's completed orders)"
            )
            self.store.set_intent(key, S.FILLED, why)
            self.settle_totals(key)
            self.alert_fills()
        elif st.status in DONE_ORDER_STATUSES:
            reason = rejection_reason(last.errorCode if last is not None else None, message)
            if reason is not None and st.filled == 0:
                self.reject(key, str(order["local_symbol"]), reason)
            else:
                self.store.set_intent(key, S.CANCELLED, f"order {st.status}: {message}"[:1000])

    def reject(self, key: str, local_symbol: str, reason: str) -> None:
        """End an intent as ``rejected`` by the broker, with the reason, and alert once."""
        if self.store.set_intent(key, S.REJECTED, reason):
            self.log.warning("order %s rejected: %s", key, reason)
            self.alert(
                "warning",
                "order",
                f"Order rejected: {local_symbol}",
                f"Intent {key}: {reason}",
                f"reject:{key}",
            )

    # -- executions and commissions --------------------------------------------------------------------
    def record_fill(self, key: str, fill: Fill) -> bool:
        """Store one execution of ``key``'s order once per execId; True when it was new."""
        new = self.store.record_fill(key, fill_values(fill))
        if new:
            e = fill.execution
            self.log.info(
                "fill %s: %s %g %s @ %.2f", e.execId, e.side, e.shares, fill.contract.localSymbol, e.price
            )
            self.settle_totals(key)
        return new

    def settle_totals(self, key: str) -> None:
        """Raise the order's filled quantity and average price to what its recorded fills add up to.

        TWS's order status usually says it first, but not on every path: a completed order as ib_async
        reports it after a restart says ``Filled`` with 0 filled, and its executions can be reported after
        it. Whichever comes last, the order row ends with the fills' figures (it never goes down)."""
        intent, row = self.store.intent(key), self.store.order_for(key)
        if intent is None or row is None:
            return
        done = [Executed.from_row(r) for r in self.store.fills_of(key)]
        units = filled_units(intent, done)
        recorded = float(row["filled"] or 0.0)
        if units > recorded + 1e-9 or (units > 0 and row["avg_fill_price"] is None):
            remaining = max(float(intent.quantity) - units, 0.0)
            price = net_price(intent, done)
            self.store.update_status(key, str(row["status"]), max(units, recorded), remaining, price, "fills")

    def record_commission(self, report: CommissionReport) -> None:
        """Attach IB's commission report (dollars) to its execution."""
        if not report.execId or not math.isfinite(report.commission) or abs(report.commission) > 1e9:
            return
        raw = report.realizedPNL
        pnl = raw if raw is not None and math.isfinite(raw) and abs(raw) < 1e300 else None
        self.store.record_commission(report.execId, report.commission, report.currency, pnl)

    # -- the fill alert --------------------------------------------------------------------------------
    def alert_fills(self) -> int:
        """Send the fill alert of every filled intent that has none yet (see the module docstring)."""
        sent = 0
        now = utcnow()
        for key in self.store.filled_without_alert():
            rows = self.store.fills_of(key)
            if not rows:
                continue
            missing = [r for r in rows if r["commission"] is None]
            newest = max(parse_ts(r["time"]) for r in rows)
            waited = now - max(newest, self.store.intent_updated_at(key) or newest)
            if missing and waited < timedelta(seconds=COMMISSION_GRACE_SECONDS):
                continue
            self._send_fill_alert(key, rows, len(missing))
            sent += 1
        return sent

    def _send_fill_alert(self, key: str, rows: list[dict[str, Any]], missing: int) -> None:
        qty = sum(float(r["quantity"]) for r in rows)
        commission = sum(float(r["commission"] or 0.0) for r in rows)
        avg = sum(float(r["quantity"]) * float(r["price"]) for r in rows) / qty
        order = self.store.order_for(key) or {}
        legs = self.store.order_legs_of(key)
        if len(legs) > 1:  # a combo: one alert for the order, from its legs' fills
            title, body = roll_fill_text(key, legs, rows, order, commission, missing)
            self.alert("info", "fill", title, body, f"fill:{key}")
            self.log.info("alert queued: %s", title)
            return
        action = str(order.get("action") or ("SELL" if rows[0]["side"] == "SLD" else "BUY"))
        local = str(rows[0]["local_symbol"])
        multiplier = 100.0 if " " in local.strip() else 1.0  # OCC option symbols have a space
        side = "Sold" if action == "SELL" else "Bought"
        title = f"{side} {qty:g} {local} @ {avg:.2f}"
        fee = f"${commission:.2f}" + (
            f" ({missing} commission report(s) not received yet)" if missing else ""
        )
        body = (
            f"Order {key} filled.\n"
            f"{side} {qty:g} × {local} at {avg:.2f} per share "
            f"(${avg * qty * multiplier:,.2f} {'credit' if side == 'Sold' else 'debit'}).\n"
            f"Commission: {fee}\n"
            f"IB order id {order.get('order_id')}, perm id {order.get('perm_id')}."
        )
        self.alert("info", "fill", title, body, f"fill:{key}")
        self.log.info("alert queued: %s", title)
