"""The executor: places each approved intent as a limit order at the mid rounded to the tick, with
``orderRef`` = the intent's key, and records the order, its status changes and its fills with
commissions. Idempotent across restarts: before placing, it looks for the intent's order in the
database and at TWS (all open orders and the day's executions, by orderRef), so an intent is never
placed twice.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from ib_async import IB, CommissionReport, Contract, Fill, LimitOrder, Trade

from executor.guards import Coverage, naked_call_reason
from executor.store import ExecutorStore
from shared.optionmath import PENNY_ALL_PRICES_CLASSES, mid, option_tick, round_to_tick
from shared.runtime import Component
from shared.trade import DONE_ORDER_STATUSES, Intent, IntentKind, IntentStatus

S = IntentStatus

#: Seconds to wait for a usable quote before giving the intent back as failed.
QUOTE_TIMEOUT_SECONDS = 8.0


def limit_price(
    bid: float | None, ask: float | None, action: str, floor: float | None, symbol: str = ""
) -> float | None:
    """Limit price in dollars per share: the mid rounded to the option tick (down for a SELL, up for a
    BUY), never worse than ``floor``.

    The tick follows the Penny Interval Program (:func:`shared.optionmath.option_tick`; SPY, QQQ and IWM
    trade in pennies at every price).
    For a SELL, ``floor`` is the minimum credit (the limit is raised to it); for a BUY it is the maximum
    debit (the limit is lowered to it). ``None`` when there is no two-sided quote.
    """
    m = mid(bid, ask)
    if m is None:
        return None
    tick = option_tick(m, all_prices_penny=symbol in PENNY_ALL_PRICES_CLASSES)
    # concede at most one tick towards the other side rather than sit a fraction above the mid
    price = round_to_tick(m, tick, "down" if action == "SELL" else "up")
    if floor is not None and floor > 0:
        price = max(price, floor) if action == "SELL" else min(price, floor)
    return price


class Executor(Component):
    """Order placement and bookkeeping (client ids 12000-12999)."""

    name = "executor"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store = ExecutorStore(self.engine)
        self._events_hooked = False

    # -- connection --------------------------------------------------------------------------
    async def on_connected(self, ib: IB) -> None:
        """Hook order events once, then reconcile what TWS knows with the database.

        The connection manager runs this after every (re)connection and after IB 1101, so fills that
        happened while the executor was away are recorded."""
        if not self._events_hooked:
            ib.orderStatusEvent += self._on_status
            ib.execDetailsEvent += self._on_exec
            ib.commissionReportEvent += self._on_commission
            self._events_hooked = True
        await self.reconcile()

    async def reconcile(self) -> None:
        """Bring every active intent up to date from TWS (open orders of all clients, today's executions)."""
        await self.ib.reqAllOpenOrdersAsync()
        fills = await self.ib.reqExecutionsAsync()
        by_ref: dict[str, list[Fill]] = {}
        for fill in fills:
            by_ref.setdefault(fill.execution.orderRef, []).append(fill)
        for intent in self.store.active_intents():
            key = intent.key
            if intent.status is S.PLACING and self.store.order_for(key) is None:
                # claimed by an executor that stopped before recording an order: nothing was placed
                self.store.set_intent(key, S.APPROVED, "re-queued after an executor restart")
                continue
            for fill in by_ref.get(key, []):
                self._record_fill(key, fill)
                if fill.commissionReport and fill.commissionReport.execId:
                    self._record_commission(key, fill.commissionReport)
            trade = self._trade_for(key)
            if trade is not None:
                self._record_status(trade)
            elif by_ref.get(key) and self.store.order_for(key):
                got = sum(f.execution.shares for f in by_ref[key])
                if got >= intent.quantity:
                    self.store.update_status(
                        key,
                        "Filled",
                        got,
                        0,
                        by_ref[key][-1].execution.avgPrice,
                        "filled while the executor was away",
                    )
                    self.store.set_intent(key, S.FILLED)

    def _trade_for(self, key: str) -> Trade | None:
        for trade in self.ib.trades():
            if trade.order.orderRef == key:
                return trade
        return None

    # -- placing ------------------------------------------------------------------------------------
    def schedule(self) -> None:
        """Look for approved intents every ``executor_poll_seconds``."""
        self.add_job(self.place_approved, self.strategy.schedule.executor_poll_seconds, "place")

    async def place_approved(self) -> None:
        """Claim approved intents one by one and place each."""
        while self.ib.isConnected() and not self.stop_event.is_set():
            intent = self.store.claim_next_intent()
            if intent is None:
                return
            try:
                await self.place(intent)
            except Exception as err:  # never leave an intent claimed by a crashed attempt
                self.log.exception("intent %s failed", intent.key)
                self.store.set_intent(intent.key, S.FAILED, f"{type(err).__name__}: {err}")

    def _coverage(self, symbol: str, own_key: str) -> Coverage:
        """Shares of ``symbol`` held at TWS and the calls that already cover them (held short, or in SELL
        orders still working at TWS other than the one for ``own_key``)."""
        shares = short_calls = working = 0.0
        for pos in self.ib.positions(self.conn.account):
            c = pos.contract
            if c.symbol != symbol:
                continue
            if c.secType == "STK":
                shares += float(pos.position)
            elif c.secType == "OPT" and (c.right or "")[:1] == "C" and pos.position < 0:
                short_calls += -float(pos.position)
        for trade in self.ib.openTrades():
            c, o = trade.contract, trade.order
            if (
                c.symbol == symbol
                and c.secType == "OPT"
                and (c.right or "")[:1] == "C"
                and o.action == "SELL"
                and o.orderRef != own_key
            ):
                working += float(trade.remaining())
        return Coverage(symbol, shares, short_calls, working)

    async def place(self, intent: Intent) -> None:
        """Place one claimed intent, unless TWS or the database has its order or a guard refuses it."""
        key = intent.key
        if self.store.order_for(key) is not None:
            self.log.info("intent %s already has an order; not placing it again", key)
            self.store.set_intent(key, S.WORKING, "order already recorded")
            await self.reconcile()
            return
        await self.ib.reqAllOpenOrdersAsync()  # orders of every client, e.g. placed before a restart
        trade = self._trade_for(key)
        if trade is not None:
            self.log.warning(
                "intent %s: TWS already has order %d with this orderRef; adopting it, not placing again",
                key,
                trade.order.orderId,
            )
            self.store.record_order(
                intent,
                {
                    "order_id": trade.order.orderId,
                    "perm_id": trade.order.permId or None,
                    "client_id": trade.order.clientId,
                    "account": trade.order.account,
                    "limit_price": trade.order.lmtPrice,
                    "remaining": float(intent.quantity),
                },
                message="adopted: order found at TWS by orderRef",
            )
            self.store.set_intent(key, S.WORKING, f"adopted TWS order {trade.order.orderId}")
            await self.reconcile()
            return
        if intent.kind is IntentKind.SELL_CALL:
            reason = naked_call_reason(self._coverage(intent.symbol, key), intent.quantity)
            if reason is not None:
                self.log.warning("intent %s refused before TWS: %s", key, reason)
                self.store.set_intent(key, S.REJECTED, reason)
                self.alert(
                    "warning", "risk", f"Refused: sell {intent.quantity} {intent.local_symbol}", reason
                )
                return
        contract = Contract(conId=intent.con_id, exchange="SMART")
        qualified = await self.ib.qualifyContractsAsync(contract)
        if not qualified or qualified[0] is None:
            self.store.set_intent(key, S.REJECTED, f"contract conId {intent.con_id} not found (IB 200)")
            return
        first = qualified[0]
        assert isinstance(first, Contract)
        contract = first
        async with self.conn.lines.hold(1, QUOTE_TIMEOUT_SECONDS):  # the executor's line budget
            ticker = self.ib.reqMktData(contract, "", False, False)
            try:
                price = await self._wait_price(ticker, intent)
            finally:
                self.ib.cancelMktData(contract)
        if price is None:
            self.store.set_intent(
                key,
                S.FAILED,
                f"no two-sided quote for {intent.local_symbol} within {QUOTE_TIMEOUT_SECONDS:.0f} s",
            )
            return
        order = LimitOrder(
            intent.action.value, intent.quantity, price, orderRef=key, tif="DAY", account=self.conn.account
        )
        order.orderId = self.ib.client.getReqId()
        self.store.record_order(
            intent,
            {
                "order_id": order.orderId,
                "client_id": self.conn.client_id,
                "account": order.account,
                "limit_price": price,
                "remaining": float(intent.quantity),
            },
            message=f"placing {intent.action} {intent.quantity} {intent.local_symbol} LMT {price}",
        )
        trade = self.ib.placeOrder(contract, order)
        self.store.set_intent(key, S.WORKING, f"LMT {price} orderId {order.orderId}")
        self.log.info(
            "placed %s %s %s LMT %.2f orderRef=%s (orderId %d)",
            intent.action.value,
            intent.quantity,
            intent.local_symbol,
            price,
            key,
            order.orderId,
        )
        self._record_status(trade)

    async def _wait_price(self, ticker: Any, intent: Intent) -> float | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + QUOTE_TIMEOUT_SECONDS
        while loop.time() < deadline:
            bid, ask = ticker.bid, ticker.ask
            if bid is not None and ask is not None and math.isfinite(bid) and math.isfinite(ask) and ask > 0:
                return limit_price(bid, ask, intent.action.value, intent.limit_floor, intent.symbol)
            await asyncio.sleep(0.1)
        return None

    # -- events ----------------------------------------------------------------------------------------
    def _record_status(self, trade: Trade) -> None:
        key = trade.order.orderRef
        if not key or self.store.order_for(key) is None:
            return
        st = trade.orderStatus
        message = trade.log[-1].message if trade.log and trade.log[-1].message else ""
        changed = self.store.update_status(
            key, st.status, st.filled, st.remaining, st.avgFillPrice, message, perm_id=trade.order.permId
        )
        if not changed:
            return
        if st.status == "Filled":
            self.store.set_intent(key, S.FILLED, f"filled {st.filled:g} @ {st.avgFillPrice:.2f}")
        elif st.status in DONE_ORDER_STATUSES:
            self.store.set_intent(key, S.CANCELLED, f"order {st.status}: {message}")

    def _on_status(self, trade: Trade) -> None:
        try:
            self._record_status(trade)
        except Exception:
            self.log.exception("could not record order status")

    def _record_fill(self, key: str, fill: Fill) -> bool:
        e, c = fill.execution, fill.contract
        return self.store.record_fill(
            key,
            {
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
            },
        )

    def _on_exec(self, trade: Trade, fill: Fill) -> None:
        key = fill.execution.orderRef or trade.order.orderRef
        if not key or self.store.order_for(key) is None:
            return
        if self._record_fill(key, fill):
            self.log.info(
                "fill %s: %s %g %s @ %.2f",
                fill.execution.execId,
                fill.execution.side,
                fill.execution.shares,
                fill.contract.localSymbol,
                fill.execution.price,
            )

    def _record_commission(self, key: str, report: CommissionReport) -> None:
        pnl = (
            report.realizedPNL if report.realizedPNL is not None and abs(report.realizedPNL) < 1e300 else None
        )
        self.store.record_commission(report.execId, report.commission, report.currency, pnl)

    def _on_commission(self, trade: Trade, fill: Fill, report: CommissionReport) -> None:
        key = trade.order.orderRef
        if not key or self.store.order_for(key) is None:
            return
        self._record_commission(key, report)
        if trade.orderStatus.status == "Filled" and trade.orderStatus.remaining == 0:
            self._alert_filled(key, trade)

    def _alert_filled(self, key: str, trade: Trade) -> None:
        rows = self.store.fills_of(key)
        qty = sum(r["quantity"] for r in rows)
        commission = sum(r["commission"] or 0.0 for r in rows)
        avg = sum(r["quantity"] * r["price"] for r in rows) / qty if qty else trade.orderStatus.avgFillPrice
        side = "Sold" if trade.order.action == "SELL" else "Bought"
        title = f"{side} {qty:g} {trade.contract.localSymbol} @ {avg:.2f}"
        body = (
            f"Order {key} filled.\n"
            f"{side} {qty:g} × {trade.contract.localSymbol} at {avg:.2f} per share "
            f"(${avg * qty * float(trade.contract.multiplier or 1):,.2f} "
            f"{'credit' if side == 'Sold' else 'debit'}).\n"
            f"Commission: ${commission:.2f}\n"
            f"IB order id {trade.order.orderId}, perm id {trade.order.permId}."
        )
        self.alert("warning", "fill", title, body, dedup_key=f"fill:{key}")
        self.log.info("alert queued: %s", title)
