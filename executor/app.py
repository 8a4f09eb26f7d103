"""The executor: places each approved intent as a limit order at the mid rounded to the tick
(:mod:`executor.pricing`), with ``orderRef`` = the intent's key — a roll as one combo (BAG) order of its
two legs for a net credit (:mod:`executor.combo`) — once the naked-call guard (:mod:`executor.guards`) and
the risk gate (:mod:`executor.riskgate`) let it through, and records the order, its legs, its status changes
and its fills with commissions (:mod:`executor.recording`). Crash-safe: after every start, reconnection or
TWS restart it settles each unfinished intent by its orderRef at TWS — open orders, completed orders and
executions — (:mod:`executor.lifecycle`), so an intent is never placed twice, never stuck, and every fill is
alerted once. It notices a new approval within a fraction of a second (:meth:`Executor.watch_intents`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ib_async import IB, CommissionReport, Contract, Fill, LimitOrder, Trade
from sqlalchemy import text

from executor.combo import Executed, bag_contract, filled_units, is_combo, net_price, short_name
from executor.guards import Coverage, naked_call_reason, roll_shape_reason
from executor.lifecycle import AtTws, resolve
from executor.pricing import intent_limit, quote_legs
from executor.recording import OrderBook
from executor.riskgate import RiskGate
from executor.store import ExecutorStore
from shared.db import utcnow
from shared.runtime import Component
from shared.trade import Intent, IntentKind, IntentStatus, OrderStatus

S = IntentStatus

#: Seconds to wait for a usable quote before giving the intent back as failed.
QUOTE_TIMEOUT_SECONDS = 8.0
#: Seconds between two looks at the database's commit counter for a new approval.
WATCH_SECONDS = 0.2


def describe(intent: Intent) -> str:
    """The order in a few words: ``KO 261218P00060000``, or ``roll KO …P → KO …P`` for a combo."""
    if is_combo(intent):
        return "roll " + " → ".join(short_name(leg.local_symbol) for leg in intent.legs)
    return short_name(intent.local_symbol)


class Executor(Component):
    """Order placement and bookkeeping (client ids 12000-12999)."""

    name = "executor"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store = ExecutorStore(self.engine)
        self.book = OrderBook(self.store, self.log, self.alert)
        self._events_hooked = False
        self._placing = asyncio.Lock()
        self.gate = RiskGate(self)

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
        """Settle every unfinished intent from what TWS knows by its orderRef (:func:`resolve`): open
        orders of all clients, the day's completed orders and executions. Fills found here are recorded
        with their commissions and alerted once like live ones."""
        await self.conn.open_orders()
        completed = {t.order.orderRef: t for t in await self.conn.completed_orders()}
        by_id = {f.execution.execId: f for f in await self.conn.executions()}
        by_id.update({f.execution.execId: f for f in self.ib.fills()})  # these carry the commission reports
        by_ref: dict[str, list[Fill]] = {}
        for fill in by_id.values():
            if fill.contract.secType != "BAG":  # a combo's summary execution; its legs are reported too
                by_ref.setdefault(fill.execution.orderRef, []).append(fill)
        unfinished = self.store.active_intents()
        for intent in unfinished:
            key = intent.key
            fills = by_ref.get(key, [])
            for fill in fills:
                self.book.record_fill(key, fill)
                if fill.commissionReport is not None and fill.commissionReport.execId:
                    self.book.record_commission(fill.commissionReport)
            trade = self._trade_for(key)
            done = completed.get(key)
            order_row = self.store.order_for(key)
            if trade is not None and order_row is None:
                self._adopt(intent, trade)
                order_row = self.store.order_for(key)
            executed = [Executed.of(f) for f in fills]
            tws = AtTws(
                filled=filled_units(intent, executed),
                open_status=trade.orderStatus.status if trade is not None and not trade.isDone() else None,
                completed_status=done.orderStatus.status if done is not None else None,
            )
            verdict = resolve(intent, order_row["status"] if order_row else None, tws)
            if trade is not None:
                self.book.record_status(trade)  # may end the intent with TWS's own words
            if verdict.status is S.APPROVED:
                if self.store.set_intent(key, S.APPROVED, verdict.reason, only_from=(S.PLACING, S.WORKING)):
                    self.log.warning("intent %s: %s", key, verdict.reason)
            elif verdict.status is S.FILLED and order_row is not None:
                self.store.update_status(key, OrderStatus.FILLED, tws.filled, 0, net_price(intent, executed),
                                         "filled while the executor was away")  # fmt: skip
                self.store.set_intent(key, S.FILLED, verdict.reason)
            elif (verdict.status is not S.WORKING or intent.status is S.PLACING) and self.store.set_intent(
                key, verdict.status, verdict.reason
            ):
                self.log.info("intent %s: %s", key, verdict.reason)
        self.book.alert_fills()
        self.log.info("reconciled %d unfinished intent(s) with TWS", len(unfinished))

    def _adopt(self, intent: Intent, trade: Trade) -> None:
        """Record the order TWS holds for ``intent`` (the order row was lost); never place it again."""
        self.log.warning(
            "intent %s: TWS already has order %d with this orderRef; adopting it, not placing again",
            intent.key,
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
                "status": trade.orderStatus.status,
            },
            message="adopted: order found at TWS by orderRef",
        )
        self.store.set_intent(intent.key, S.WORKING, f"adopted TWS order {trade.order.orderId}")

    def _trade_for(self, key: str) -> Trade | None:
        for trade in self.ib.trades():
            if trade.order.orderRef == key:
                return trade
        return None

    # -- placing ------------------------------------------------------------------------------------
    def schedule(self) -> None:
        """Watch for approvals (:meth:`watch_intents`), look every ``executor_poll_seconds`` as well, and
        send due fill alerts every second."""
        self.add_job(self.place_approved, self.strategy.schedule.executor_poll_seconds, "place")
        self.add_job(self._alert_fills, 1.0, "fill-alerts", first_now=False)
        self._watcher = asyncio.ensure_future(self.watch_intents())
        from executor.repricer import Repricer  # issue 8: the repricing ladder and cancels (own module, job)

        Repricer(self).schedule()
        from executor.cancels import Cancels  # issue 11: cancels asked for from the dashboard

        Cancels(self).schedule()

    async def _alert_fills(self) -> None:
        self.book.alert_fills()

    async def watch_intents(self) -> None:
        """Place new approvals at once: every :data:`WATCH_SECONDS` read SQLite's ``data_version``, which
        changes when another connection (the dashboard, the monitor) commits, and look for approved
        intents only then. Other databases rely on the ``place`` job."""
        if self.engine.dialect.name != "sqlite":
            return
        last = None
        with self.engine.connect() as conn:  # data_version is per connection: keep this one open
            while not self.stop_event.is_set():
                version = conn.execute(text("PRAGMA data_version")).scalar()
                if version != last:
                    last = version
                    conn.rollback()
                    await self.place_approved()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), WATCH_SECONDS)

    async def place_approved(self) -> None:
        """Claim approved intents one by one and place each (one placement at a time)."""
        async with self._placing:
            while self.ib.isConnected() and not self.stop_event.is_set():
                intent = self.store.claim_next_intent()
                if intent is None:
                    return
                try:
                    await self.place(intent)
                except (ConnectionError, TimeoutError) as err:  # nothing was sent: placeOrder cannot raise
                    reason = f"re-queued: the connection to TWS failed before the order was sent ({err})"
                    self.log.warning("intent %s %s", intent.key, reason)
                    self.store.set_intent(intent.key, S.APPROVED, reason, only_from=(S.PLACING,))
                    return
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
        """Place one claimed intent, unless TWS or the database has its order or a guard refuses it.

        An order row still ``PendingSubmit`` whose orderRef TWS does not know (the executor stopped
        between recording and sending it) is placed again; any other recorded order is only reconciled."""
        key = intent.key
        await self.conn.open_orders()  # orders of every client, e.g. placed before a restart
        trade = self._trade_for(key)
        row = self.store.order_for(key)
        if trade is not None:
            if row is None:
                self._adopt(intent, trade)
            else:
                self.store.set_intent(key, S.WORKING, "order already at TWS")
            await self.reconcile()
            return
        if row is not None and row["status"] != OrderStatus.PENDING_SUBMIT:
            self.log.info("intent %s already has order %s; not placing it again", key, row["order_id"])
            self.store.set_intent(key, S.WORKING, "order already recorded")
            await self.reconcile()
            return
        if row is not None and any(f.execution.orderRef == key for f in await self.conn.executions()):
            await self.reconcile()  # it was sent and filled at once
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
        shape = roll_shape_reason(intent)
        if shape is not None:
            self.log.warning("intent %s refused before TWS: %s", key, shape)
            self.store.set_intent(key, S.REJECTED, shape)
            return
        snap = await self.gate.check(intent)  # halt, daily loss, hours, restart window, account limits
        if snap is None:
            return
        contracts = await self._qualify(intent)
        if contracts is None:
            return
        async with self.conn.lines.hold(len(contracts), QUOTE_TIMEOUT_SECONDS):  # the line budget
            quote = await quote_legs(self.ib, contracts, QUOTE_TIMEOUT_SECONDS)
        price = intent_limit(intent, quote) if quote is not None else None
        what = describe(intent)
        if quote is None or price is None:
            reason = f"no two-sided quote for {what} within {QUOTE_TIMEOUT_SECONDS:.0f} s"
            self.store.set_intent(key, S.FAILED, reason)
            return
        if not self.gate.check_quote(intent, snap, quote.age_seconds(utcnow())):
            return
        contract = bag_contract(intent) if is_combo(intent) else contracts[0]
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
            message=f"placing {intent.action} {intent.quantity} {what} LMT {price}",
        )
        trade = self.ib.placeOrder(contract, order)
        self.store.set_intent(key, S.WORKING, f"LMT {price} orderId {order.orderId}")
        self.log.info(
            "placed %s %s %s LMT %.2f orderRef=%s (orderId %d)",
            intent.action.value,
            intent.quantity,
            what,
            price,
            key,
            order.orderId,
        )
        self.book.record_status(trade)

    async def _qualify(self, intent: Intent) -> list[Contract] | None:
        """The contract of every leg, qualified at TWS (one for a single option); ``None`` when one is
        unknown (the intent is then rejected)."""
        wanted = [leg.con_id for leg in intent.legs] or [intent.con_id]
        found = await self.ib.qualifyContractsAsync(*(Contract(conId=c, exchange="SMART") for c in wanted))
        contracts = [c for c in found if isinstance(c, Contract)]
        if len(contracts) != len(wanted):
            missing = [c for c in wanted if c not in {k.conId for k in contracts}] or wanted
            ids = ", ".join(str(c) for c in missing)
            self.store.set_intent(intent.key, S.REJECTED, f"contract conId {ids} not found (IB 200)")
            return None
        return contracts

    # -- events ----------------------------------------------------------------------------------------
    def _on_status(self, trade: Trade) -> None:
        try:
            self.book.record_status(trade)
        except Exception:
            self.log.exception("could not record order status")

    def _on_exec(self, trade: Trade, fill: Fill) -> None:
        key = fill.execution.orderRef or trade.order.orderRef
        if not key or self.store.order_for(key) is None or fill.contract.secType == "BAG":
            return
        try:
            self.book.record_fill(key, fill)
        except Exception:
            self.log.exception("could not record fill %s", fill.execution.execId)

    def _on_commission(self, trade: Trade, fill: Fill, report: CommissionReport) -> None:
        key = trade.order.orderRef
        if not key or self.store.order_for(key) is None:
            return
        try:
            self.book.record_commission(report)
            self.book.alert_fills()
        except Exception:
            self.log.exception("could not record commission of %s", report.execId)

    async def on_stop(self) -> None:
        """Stop watching for approvals."""
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
