"""The fill job: working orders that rested ``fill_delay`` seconds fill once marketable, possibly in pieces.

Partial-fill rule (per check, every ``order_check_interval`` ≤ 1 s):

* an order fills at most the size displayed at the touch — the ask size for a BUY, the bid size for a SELL
  (contracts for options, shares for stock); the rest keeps working and fills at later checks, at the
  price of each check's quote;
* with ``--partial-fills P`` (probability 0..1, default 0) a fill that would take 2 or more units takes only
  half of them (rounded up) with probability P, drawn deterministically from (permId, fill number).

Each piece sends what TWS sends for a fill: execDetails (reqId −1, cumQty/avgPrice so far) → openOrder →
orderStatus (``Submitted`` with filled/remaining while pieces remain — TWS has no "PartiallyFilled" status —
then ``Filled``) → commissionReport. Commissions follow the per-order schedule across the pieces (the
$1 minimum is charged once). Combo (BAG) orders fill atomically (``combo.py``).
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from . import encoders as enc
from .broker import SimExecution, SimOrder
from .combo import fill_combo
from .paths import mix64
from .reports import push_account_updates, send_execution, send_order_state

if TYPE_CHECKING:
    from .ports import ServerPort

log = logging.getLogger("simulator.fills")


def touch(server: ServerPort, order: SimOrder) -> tuple[float, float, float]:
    """(bid, ask, size displayed on the side the order trades against) for a stock or option order."""
    spec = order.spec
    if enc.is_option(spec):
        q = server.market.option_quote(spec)  # type: ignore[arg-type]
        return q.bid, q.ask, float(q.ask_size if order.action == "BUY" else q.bid_size)
    sq = server.market.stock_quote(spec.symbol)
    return sq.bid, sq.ask, float(sq.ask_size if order.action == "BUY" else sq.bid_size)


def fill_quantity(order: SimOrder, displayed: float, probability: float, fills_so_far: int) -> float:
    """Units to fill now (see the module docstring); at least 1 unit, at most what remains."""
    qty = max(1.0, min(order.remaining, displayed))
    if probability > 0 and qty >= 2:
        draw = (mix64(order.perm_id, fills_so_far, 17) >> 11) / float(1 << 53)
        if draw < probability:
            qty = float(math.ceil(qty / 2))
    return min(qty, order.remaining)


def check_orders(server: ServerPort) -> None:
    """Fill every working, transmitted order that has rested ``fill_delay`` s and is marketable now."""
    due = [
        o
        for o in server.broker.open_orders()
        if o.transmit
        and o.status == "Submitted"
        and time.monotonic() - o.placed_at >= server.config.fill_delay
    ]
    if not due:
        return
    server.market.step()
    filled = False
    for order in due:
        if enc.is_bag(order.spec):
            executions = fill_combo(server, order, order.spec)
            if executions:
                announce(server, order, executions)
                filled = True
            continue
        bid, ask, displayed = touch(server, order)
        price = server.broker.fill_price(order, bid, ask)
        if price is None:
            continue
        tick = float(getattr(order.spec, "min_tick", 0.01) or 0.01)
        price = round(round(price / tick) * tick, 4)
        exchange = "CBOE" if enc.is_option(order.spec) else "ISLAND"
        pieces = sum(1 for e in server.broker.executions if e.order is order)
        qty = fill_quantity(order, displayed, server.config.partial_fills, pieces)
        execution = server.broker.fill(order, price, exchange, qty)
        log.info(
            "filled client %d order %d: %s %g @ %.4f commission %.2f (%g of %g)",
            order.client_id,
            order.order_id,
            execution.side,
            execution.shares,
            price,
            execution.commission,
            order.filled,
            order.quantity,
        )
        announce(server, order, [execution])
        filled = True
    if filled:
        push_account_updates(server)


def announce(server: ServerPort, order: SimOrder, executions: list[SimExecution]) -> None:
    """Send a fill to the order's owner (execDetails…, openOrder, orderStatus, commissionReports) and the
    changed positions to every position subscriber. The BAG execution of a combo has no commissionReport."""
    owner = server.sessions.get(order.client_id)
    if owner is not None:
        for execution in executions:
            send_execution(owner, -1, execution)
        send_order_state(owner, order)
        for execution in executions:
            if not enc.is_bag(execution.order.spec):
                owner.send(
                    enc.commission_report(execution.exec_id, execution.commission, execution.realized_pnl)
                )
    broker = server.broker
    changed = [e.order.spec.con_id for e in executions if not enc.is_bag(e.order.spec)]
    for session in server.sessions.values():
        if session.positions_subscribed:
            for con_id in changed:
                pos = broker.positions[con_id]
                session.send(enc.position(broker.account, pos.spec, pos.qty, pos.avg_cost))
