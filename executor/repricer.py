"""The executor's repricing job: walks every working order up the ladder (:mod:`executor.ladder`) and cancels
unfilled orders at their intent's deadline and 5 minutes before the close.

A thin loop (``docs/style.md``): every :meth:`Repricer.check_seconds` it gathers, for each order it placed
that is still working, the order (TWS's ``Trade``: its limit, status, contract), the intent's floor and
approval time, the steps taken so far and the time of the last one (read back from ``order_events``, no
schema change), TWS's clock (:meth:`shared.ibconn.IBConnection.current_time`, so that the simulator's fast
clock is honoured) and the NYSE session at that time (``exchange_calendars`` XNYS, early closes included).
Then, per order:

- cancel it when :func:`executor.ladder.cancel_reason` says so (deadline on the machine's clock, which
  stamped the intent; the close on TWS's clock), recording why as an order event first;
- otherwise, inside the regular session only (outside it quotes are stale and nothing fills), once
  ``reprice_seconds`` have passed since its last step (or placement, or last look), take one snapshot quote
  per leg (``reqTickersAsync`` with a timeout, inside the executor's market-data line budget), ask
  :func:`executor.ladder.next_limit`, and modify the order in place: the same ``Order`` object, the same
  orderId, a new ``lmtPrice``, ``placeOrder`` again. ``totalQuantity`` is kept, so a partly filled order
  reprices its remainder. The event row is written before the modification goes out, so a crash in
  between can cost a step but never add one.

Every step, hold and cancel is an ``order_events`` row the dashboard shows, e.g. ``repriced 1/4: LMT 1.20
→ 1.15 (natural 1.00, floor 1.05)``, ``reprice held: at the floor (…)``, ``cancelled: 5 min before the close
(16:00 ET)``. A hold is written once per order and reason, not at every look.

Orders of another client id (placed before a restart that got a different id) cannot be modified or
cancelled through this connection: they are left alone and logged once.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ib_async import IB, Contract, Ticker, Trade
from sqlalchemy import Engine, and_, insert, select, update

from executor.ladder import (
    LadderState,
    LegQuote,
    Move,
    Phase,
    TickRule,
    cancel_reason,
    combo_bid_ask,
    deadline_of,
    fixed_tick,
    next_limit,
    option_tick_rule,
    session_phase,
    step_number,
)
from shared.db import parse_ts, utcnow, utcnow_iso
from shared.marketcal import XnysSessions
from shared.optionmath import PENNY_ALL_PRICES_CLASSES, is_price
from shared.pacing import LineBudgetExceeded
from shared.schema import intents, order_events, orders
from shared.trade import DONE_ORDER_STATUSES, Action, IntentStatus, OrderStatus

if TYPE_CHECKING:
    from shared.runtime import Component
    from shared.strategy import OrderRules

#: Seconds a snapshot quote (all legs) may take before this look is given up.
QUOTE_TIMEOUT_SECONDS = 8.0
#: Combos (BAG) are priced in cents at SMART.
COMBO_TICK = 0.01
#: Longest pause between two looks: the close window (5 min) is never missed by more than this.
MAX_CHECK_SECONDS = 5.0
#: A step counts as due this much early: the looks run at a fixed pace, and a step's event is written a few
#: milliseconds after its look began, so without it every step would wait one look more than it should.
DUE_SLACK_SECONDS = 0.2


@dataclass(frozen=True)
class WorkingOrder:
    """An order the executor placed whose intent is ``working``, with what ``order_events`` says of it.

    ``floor`` the intent's ``limit_floor`` as stored (dollars per share); ``approved_at`` the intent's
    ``created_at``; ``last_step_at`` the time of the last step, or of the placement when none was taken.
    """

    key: str
    order_id: int
    client_id: int | None
    symbol: str
    floor: float | None
    approved_at: datetime
    steps: int
    last_step_at: datetime


class RepriceStore:
    """The repricer's reads and writes (the executor owns ``orders`` and ``order_events``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def working(self) -> list[WorkingOrder]:
        """Orders with an IB order id, not finished, whose intent is ``working``, oldest first."""
        o, i, e = orders.c, intents.c, order_events.c
        done = sorted(str(s) for s in DONE_ORDER_STATUSES)
        stmt = (
            select(o.intent_key, o.order_id, o.client_id, o.symbol, o.created_at, i.limit_floor, i.created_at)
            .join(intents, i.key == o.intent_key)
            .where(
                i.status == IntentStatus.WORKING.value,
                o.order_id.is_not(None),
                o.status.not_in(done),
            )
            .order_by(o.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            keys = [r[0] for r in rows]
            steps: dict[str, tuple[int, str]] = {}
            if keys:
                events = conn.execute(
                    select(e.intent_key, e.ts, e.message)
                    .where(and_(e.intent_key.in_(keys), e.message.like("repriced %")))
                    .order_by(e.id)
                )
                for key, ts, message in events:
                    number = step_number(message)
                    if number is not None:
                        steps[key] = (max(number, steps.get(key, (0, ""))[0]), ts)
        out = []
        for key, order_id, client_id, symbol, placed_at, floor, approved_at in rows:
            taken, last = steps.get(key, (0, placed_at))
            out.append(
                WorkingOrder(
                    key=key,
                    order_id=int(order_id),
                    client_id=client_id,
                    symbol=symbol,
                    floor=floor,
                    approved_at=parse_ts(approved_at),
                    steps=taken,
                    last_step_at=parse_ts(last),
                )
            )
        return out

    def record_event(
        self, key: str, trade: Trade, message: str, status: str | None = None, limit: float | None = None
    ) -> None:
        """An ``order_events`` row for ``key`` (status, filled and remaining as TWS last said, unless
        ``status`` is given); with ``limit``, the order row's limit price becomes it."""
        now = utcnow_iso()
        st = trade.orderStatus
        with self.engine.begin() as conn:
            conn.execute(
                insert(order_events).values(
                    intent_key=key,
                    ts=now,
                    status=status or st.status,
                    filled=st.filled,
                    remaining=st.remaining,
                    message=message[:500],
                )
            )
            if limit is not None:
                conn.execute(
                    update(orders).where(orders.c.intent_key == key).values(limit_price=limit, updated_at=now)
                )

    def note_cancel_reason(self, key: str, reason: str) -> bool:
        """Give a cancelled intent the reason it was cancelled for (only while it is ``cancelled``)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(intents)
                .where(intents.c.key == key, intents.c.status == IntentStatus.CANCELLED.value)
                .values(status_reason=reason[:1000], updated_at=utcnow_iso())
            )
        return bool(result.rowcount)


class Repricer:
    """The repricing and cancel job of one executor (``component``: its connection, database and rules)."""

    def __init__(self, component: Component) -> None:
        self.component = component
        self.rules: OrderRules = component.strategy.orders
        self.store = RepriceStore(component.engine)
        self.sessions = XnysSessions()
        self.log: logging.Logger = component.log
        self._held: dict[str, str] = {}  # key → the hold reason last written as an event
        self._looked: dict[str, datetime] = {}  # key → last look that held (the next waits reprice_seconds)
        self._foreign: set[str] = set()  # keys already logged as another client's order

    @property
    def check_seconds(self) -> float:
        """Seconds between two looks: half the step interval, between 0.5 s and :data:`MAX_CHECK_SECONDS`."""
        return max(0.5, min(MAX_CHECK_SECONDS, self.rules.reprice_seconds / 2))

    def schedule(self) -> None:
        """Add the job to the component's scheduler."""
        self.component.add_job(self.run, self.check_seconds, "reprice", first_now=False)

    # -- the job ------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """One look at every working order: cancel, step, or leave it."""
        ib = self.component.ib
        if not ib.isConnected() or self.component.stop_event.is_set():
            return
        working = self.store.working()
        if not working:
            return
        try:
            async with asyncio.timeout(QUOTE_TIMEOUT_SECONDS):
                tws_now = await self.component.conn.current_time()
        except (TimeoutError, ConnectionError) as err:
            self.log.warning("repricer: no time from TWS (%s); trying again at the next look", err)
            return
        session = await self.sessions.session_at_async(tws_now)
        for order in working:
            if self.component.stop_event.is_set() or not ib.isConnected():
                return
            trade = self._trade(order)
            if trade is None:
                continue
            deadline = deadline_of(order.approved_at, self.rules.deadline_minutes)
            why = cancel_reason(tws_now, session, utcnow(), deadline)
            if why is not None:
                self._cancel(order, trade, why)
            elif session_phase(tws_now, session) is Phase.OPEN and self._due(order):
                await self._step(order, trade)

    def _trade(self, order: WorkingOrder) -> Trade | None:
        """TWS's working trade of ``order``, if this connection may modify it."""
        for trade in self.component.ib.openTrades():
            if trade.order.orderRef != order.key or trade.order.orderId != order.order_id:
                continue
            if trade.orderStatus.status == OrderStatus.PENDING_CANCEL:
                return None  # being cancelled
            mine = self.component.ib.client.clientId
            if trade.order.clientId != mine:
                if order.key not in self._foreign:
                    self._foreign.add(order.key)
                    self.log.warning(
                        "repricer: order %d of intent %s belongs to client %d, not this one (%d); "
                        "it is neither repriced nor cancelled here",
                        order.order_id,
                        order.key,
                        trade.order.clientId,
                        mine,
                    )
                return None
            return trade
        return None

    def _due(self, order: WorkingOrder) -> bool:
        """A step is due: steps left, and ``reprice_seconds`` since the last step (or placement, or a look
        that held)."""
        if order.steps >= self.rules.reprice_max_steps:
            return False
        last = max(order.last_step_at, self._looked.get(order.key, order.last_step_at))
        return (utcnow() - last).total_seconds() >= self.rules.reprice_seconds - DUE_SLACK_SECONDS

    # -- a step -------------------------------------------------------------------------------------------
    async def _step(self, order: WorkingOrder, trade: Trade) -> None:
        quote = await self._quote(trade)
        if trade.isDone() or trade.orderStatus.status == OrderStatus.PENDING_CANCEL:
            return  # filled or cancelled while the quote came
        limit = _number(trade.order.lmtPrice)
        if trade.order.orderType != "LMT" or limit is None:
            return  # only limit orders have a ladder
        combo = trade.contract.secType == "BAG"
        floor = order.floor if combo or (order.floor is not None and order.floor > 0) else None
        state = LadderState(
            action=Action(trade.order.action),
            limit=limit,
            bid=quote[0] if quote else None,
            ask=quote[1] if quote else None,
            floor=floor,
            steps_done=order.steps,
        )
        decision = next_limit(
            state, self.rules.reprice_fraction, self.rules.reprice_max_steps, self._tick_rule(trade, order)
        )
        if decision.move is not Move.STEP or decision.new_limit is None:
            self._looked[order.key] = utcnow()
            if self._held.get(order.key) != decision.reason:
                self._held[order.key] = decision.reason
                self.store.record_event(order.key, trade, decision.message)
                self.log.info("intent %s: %s", order.key, decision.message)
            return
        self._held.pop(order.key, None)
        self._looked.pop(order.key, None)
        self.store.record_event(order.key, trade, decision.message, limit=decision.new_limit)
        trade.order.lmtPrice = decision.new_limit
        self.component.ib.placeOrder(trade.contract, trade.order)  # same Order, same orderId: a modification
        self.log.info("intent %s (orderId %d): %s", order.key, trade.order.orderId, decision.message)

    @staticmethod
    def _tick_rule(trade: Trade, order: WorkingOrder) -> TickRule:
        sec_type = trade.contract.secType
        if sec_type == "OPT":
            symbol = trade.contract.symbol or order.symbol
            return option_tick_rule(all_prices_penny=symbol in PENNY_ALL_PRICES_CLASSES)
        return fixed_tick(COMBO_TICK)  # BAG at SMART, and stock: cents

    async def _quote(self, trade: Trade) -> tuple[float, float] | None:
        """(bid, ask) now, dollars per share — the combo's net quote for a BAG — or ``None`` without a
        two-sided quote in time."""
        contract = trade.contract
        if contract.secType == "BAG":
            legs = list(contract.comboLegs or [])
            contracts = [Contract(conId=leg.conId, exchange=leg.exchange or "SMART") for leg in legs]
        else:
            legs = []
            contracts = [Contract(conId=contract.conId, exchange=contract.exchange or "SMART")]
        if not contracts:
            return None
        try:
            async with (
                self.component.conn.lines.hold(len(contracts), QUOTE_TIMEOUT_SECONDS),
                asyncio.timeout(QUOTE_TIMEOUT_SECONDS),
            ):
                tickers = await self.component.ib.reqTickersAsync(*contracts)
        except (LineBudgetExceeded, TimeoutError, ConnectionError) as err:
            self.log.info("repricer: no quote for order %d (%s)", trade.order.orderId, err or "timeout")
            return None
        if not legs:
            return _two_sided(tickers[0]) if tickers else None
        quotes = []
        for leg, ticker in zip(legs, tickers, strict=True):
            bid, ask = _number(ticker.bid), _number(ticker.ask)
            if bid is None or ask is None or bid < 0 or not is_price(ask) or bid > ask:
                return None
            quotes.append(LegQuote(Action(leg.action), int(leg.ratio), bid, ask))
        return combo_bid_ask(quotes)

    # -- cancels ------------------------------------------------------------------------------------------
    def _cancel(self, order: WorkingOrder, trade: Trade, why: str) -> None:
        cancel_with_reason(self.component.ib, self.store, order.key, trade, why, self.log)


def cancel_with_reason(
    ib: IB, store: RepriceStore, key: str, trade: Trade, why: str, log: logging.Logger
) -> None:
    """Cancel ``trade`` (intent ``key``) at TWS, saying why: an ``order_events`` row now, and once TWS
    confirms (``cancelledEvent``, emitted after the status event that ends the intent) the reason on the
    intent, with the quantity filled before the cancel if any."""

    def confirmed(done: Trade) -> None:
        trade.cancelledEvent -= confirmed
        filled = done.orderStatus.filled
        reason = why if not filled else f"{why}; {filled:g} of {done.order.totalQuantity:g} filled"
        try:
            store.note_cancel_reason(key, reason)
        except Exception:  # a reason not written must not disturb ib_async's event dispatch
            log.exception("could not note the cancel reason of %s", key)

    store.record_event(key, trade, why, status=OrderStatus.PENDING_CANCEL.value)
    trade.cancelledEvent += confirmed
    ib.cancelOrder(trade.order)
    log.info("intent %s (orderId %d): %s", key, trade.order.orderId, why)


def _number(value: Any) -> float | None:
    """A finite float, or ``None`` for IB's "no value" (``None``, NaN, or the unset double 1.7976931e308)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) and abs(number) < 1e300 else None


def _two_sided(ticker: Ticker) -> tuple[float, float] | None:
    """The ticker's (bid, ask) when both are prices and not crossed."""
    bid, ask = _number(ticker.bid), _number(ticker.ask)
    if bid is None or ask is None or not (is_price(bid) and is_price(ask)) or bid > ask:
        return None
    return bid, ask
