"""What the server pushes about orders and the account: openOrder + orderStatus, execDetails, account
values and portfolio (reqAccountUpdates / reqAccountUpdatesMulti rows) and their periodic refresh.

Used by the request handlers (``accounts.py``) and by the jobs that change the account on their own
(``fills.py``, ``expiry.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import encoders as enc
from . import summary
from .openorder import open_order
from .pnl import make_mark

if TYPE_CHECKING:
    from .broker import SimExecution, SimOrder
    from .ports import ServerPort, SessionPort


def send_order_state(s: SessionPort, order: SimOrder) -> None:
    """openOrder followed by orderStatus for one order."""
    s.send(open_order(order, s.version))
    s.send(order_status(order))


def order_status(order: SimOrder) -> list[enc.Field]:
    """orderStatus for the order's current state."""
    return enc.order_status(
        order.order_id,
        order.status,
        order.filled,
        order.remaining,
        order.avg_fill_price,
        order.perm_id,
        order.parent_id,
        order.last_fill_price,
        order.client_id,
    )


def account_rows(server: ServerPort) -> list[tuple[str, str, str]]:
    """accountValue rows (key, value, currency) at current marks."""
    return server.broker.account_values(make_mark(server))


def send_account(s: SessionPort, end: bool) -> None:
    """accountValue rows, portfolioValue per position, accountTime (+ accountDownloadEnd when ``end``)."""
    server = s.server
    broker = server.broker
    mark = make_mark(server)
    for key, value, cur in broker.account_values(mark):
        s.send(enc.account_value(key, value, cur, broker.account))
    for pos in broker.positions.values():
        px = mark(pos.spec)
        mult = enc.multiplier(pos.spec)
        mkt_value = pos.qty * px * mult
        s.send(
            enc.portfolio_value(
                pos.spec,
                pos.qty,
                round(px, 4),
                round(mkt_value, 2),
                round(pos.avg_cost, 6),
                round(mkt_value - pos.qty * pos.avg_cost, 2),
                round(pos.realized_pnl, 2),
                broker.account,
            )
        )
    s.send(enc.account_time(server.market.now()))
    if end:
        s.send(enc.account_download_end(broker.account))


def send_multi(s: SessionPort, req_id: int) -> None:
    broker = s.server.broker
    for key, value, cur in account_rows(s.server):
        s.send(enc.account_update_multi(req_id, broker.account, "", key, value, cur))


def send_execution(s: SessionPort, req_id: int, e: SimExecution) -> None:
    """execDetails for one execution."""
    o = e.order
    s.send(
        enc.exec_details(
            req_id,
            s.version,
            o.order_id,
            o.spec,
            e.exec_id,
            e.time,
            o.account,
            e.exchange,
            e.side,
            e.shares,
            e.price,
            o.perm_id,
            o.client_id,
            e.cum_qty,
            e.avg_price,
            o.order_ref,
        )
    )


def push_account_updates(server: ServerPort) -> None:
    """Re-send account values and portfolio to every subscribed session (no End)."""
    for session in list(server.sessions.values()):
        if session.account_subscribed:
            send_account(session, end=False)
        for req_id in session.multi_subs:
            send_multi(session, req_id)
    summary.push(server)  # changed reqAccountSummary rows
