"""Account and order requests: positions, account updates, open/completed orders, executions, placeOrder,
cancelOrder, plus the fill job. Bookkeeping itself lives in ``broker.py``; the messages pushed about orders
and the account (also after fills and expiries) in ``reports.py``."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from . import combo, fills
from . import encoders as enc
from .broker import OrderRejected, SimExecution, SimOrder
from .inbound import ExecFilter, read_exec_filter, read_place_order
from .marketdata import NO_SECDEF, resolve
from .openorder import completed_order
from .pnl import make_mark  # noqa: F401 - re-exported
from .protocol import FieldReader, In
from .reports import (  # noqa: F401 - re-exported
    account_rows,
    order_status,
    push_account_updates,
    send_account,
    send_execution,
    send_multi,
    send_order_state,
)

if TYPE_CHECKING:
    from .ports import Handler, ServerPort, SessionPort

log = logging.getLogger("simulator.accounts")


# ---------------------------------------------------------------------- start-up sync
def _req_positions(s: SessionPort, r: FieldReader) -> None:
    s.positions_subscribed = True
    broker = s.server.broker
    for pos in broker.positions.values():
        s.send(enc.position(broker.account, pos.spec, pos.qty, pos.avg_cost))
    s.send(enc.position_end())


def _cancel_positions(s: SessionPort, r: FieldReader) -> None:
    s.positions_subscribed = False


def _req_open_orders(s: SessionPort, r: FieldReader) -> None:
    for order in s.server.broker.open_orders(s.client_id):
        send_order_state(s, order)
    s.send([53, 1])


def _req_all_open_orders(s: SessionPort, r: FieldReader) -> None:
    for order in s.server.broker.open_orders():
        send_order_state(s, order)
    s.send([53, 1])


def _req_auto_open_orders(s: SessionPort, r: FieldReader) -> None:
    r.skip(1)
    s.auto_open_orders = r.flag() and s.client_id == 0


def _req_completed_orders(s: SessionPort, r: FieldReader) -> None:
    """The day's filled and cancelled orders of every client (apiOnly is not distinguished: all orders
    here come through the API), then completedOrdersEnd."""
    day = enc.to_eastern(s.server.market.now()).date()
    for order in s.server.broker.completed_orders(day):
        s.send(completed_order(order, s.version))
    s.send([102])


def _req_account_updates(s: SessionPort, r: FieldReader) -> None:
    r.skip(1)
    subscribe = r.flag()
    acct = r.text()
    if acct and acct != s.server.broker.account:
        s.error(-1, 321, f"Error validating request.-'bB' : cause - Unknown account {acct}")
        return
    s.account_subscribed = subscribe
    if subscribe:
        send_account(s, end=True)


def _req_account_updates_multi(s: SessionPort, r: FieldReader) -> None:
    r.skip(1)
    req_id = r.integer()
    acct = r.text()
    if acct and acct not in (s.server.broker.account, "All"):
        s.error(req_id, 321, f"Error validating request.-'bB' : cause - Unknown account {acct}")
        return
    s.multi_subs.add(req_id)
    send_multi(s, req_id)
    s.send(enc.account_update_multi_end(req_id))


def _cancel_account_updates_multi(s: SessionPort, r: FieldReader) -> None:
    r.skip(1)
    s.multi_subs.discard(r.integer())


# ---------------------------------------------------------------------- executions
def _filter_time(text: str) -> datetime | None:
    text = text.strip()
    if len(text) < 17:
        return None
    try:
        base = datetime.strptime(text[:17].replace("-", " "), "%Y%m%d %H:%M:%S")
    except ValueError:
        return None
    if "-" in text[:9]:
        return base.replace(tzinfo=ZoneInfo("UTC"))
    zone = text[17:].strip()
    try:
        return base.replace(tzinfo=ZoneInfo(zone)) if zone else base.replace(tzinfo=enc.EASTERN)
    except Exception:
        return base.replace(tzinfo=enc.EASTERN)


def matches(e: SimExecution, f: ExecFilter, account: str) -> bool:
    """Does the execution pass a reqExecutions filter (empty/zero members match anything)?"""
    if f.client_id and e.order.client_id != f.client_id:
        return False
    if f.acct_code and f.acct_code != account:
        return False
    if f.symbol and f.symbol != e.order.spec.symbol:
        return False
    if f.sec_type and f.sec_type != enc.sec_type(e.order.spec):
        return False
    if f.exchange and f.exchange not in (e.exchange, "SMART"):
        return False
    if f.side and f.side not in (e.side, {"BOT": "BUY", "SLD": "SELL"}[e.side]):
        return False
    since = _filter_time(f.time)
    return not (since is not None and enc.to_eastern(e.time) < since)


def _req_executions(s: SessionPort, r: FieldReader) -> None:
    r.skip(1)
    req_id = r.integer()
    f = read_exec_filter(r)
    broker = s.server.broker
    for e in broker.executions:
        if matches(e, f, broker.account):
            send_execution(s, req_id, e)
            if not enc.is_bag(e.order.spec):  # commissions are per leg; the BAG execution has none
                s.send(enc.commission_report(e.exec_id, e.commission, e.realized_pnl))
    s.send(enc.exec_details_end(req_id))


# ---------------------------------------------------------------------- orders
def _place_order(s: SessionPort, r: FieldReader) -> None:
    assert s.client_id is not None
    req = read_place_order(r, s.version)
    server = s.server
    if req.what_if:
        s.error(
            req.order_id, 201, "Order rejected - reason:What-if orders are not supported by the simulator"
        )
        return
    bag = req.contract.sec_type == "BAG"  # combo legs resolved by conId (combo.py)
    specs = combo.resolve_bag(server.market, req) if bag else resolve(server.market, req.contract)
    if len(specs) != 1:
        s.error(req.order_id, 200, NO_SECDEF)
        return
    if enc.sec_type(specs[0]) == "IND":  # an index (simulator/vix.py) is quoted, not traded
        s.error(req.order_id, 201, "Order rejected - reason:Indices are not tradable")
        return
    try:
        order, modified = server.broker.place(s.client_id, req, specs[0], make_mark(server))
    except OrderRejected as exc:
        log.info("client %d order %d rejected: %s", s.client_id, req.order_id, exc.message)
        s.error(req.order_id, exc.code, exc.message)
        return
    log.info(
        "client %d %s order %d: %s %g %s %s @ %s ref=%r",
        s.client_id,
        "modified" if modified else "placed",
        order.order_id,
        order.action,
        order.quantity,
        enc.sec_type(order.spec),
        getattr(order.spec, "local_symbol", order.spec.symbol),
        order.lmt_price if order.order_type == "LMT" else "MKT",
        order.order_ref,
    )
    if modified:
        order.status = "Submitted" if order.transmit else "PreSubmitted"
        send_order_state(s, order)
        return
    send_order_state(s, order)
    if order.transmit:
        order.status = "Submitted"
        send_order_state(s, order)


def _cancel_order(s: SessionPort, r: FieldReader) -> None:
    assert s.client_id is not None
    r.skip(1)
    order_id = r.integer()
    order = s.server.broker.cancel(s.client_id, order_id)
    if order is None:
        s.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
        return
    _announce_cancel(s, order)


def _announce_cancel(s: SessionPort, order: SimOrder) -> None:
    log.info("client %d order %d cancelled", order.client_id, order.order_id)
    s.send(order_status(order))
    s.error(order.order_id, 202, "Order Canceled - reason:")


def _req_global_cancel(s: SessionPort, r: FieldReader) -> None:
    server = s.server
    for order in server.broker.open_orders():
        server.broker.cancel(order.client_id, order.order_id)
        owner = server.sessions.get(order.client_id)
        if owner is not None:
            _announce_cancel(owner, order)


# ---------------------------------------------------------------------- fills
def check_orders(server: ServerPort) -> None:
    """Fill working orders that are due (partial fills and combos: see ``fills.py``)."""
    fills.check_orders(server)


HANDLERS: dict[int, Handler] = {
    In.REQ_POSITIONS: _req_positions,
    In.CANCEL_POSITIONS: _cancel_positions,
    In.REQ_OPEN_ORDERS: _req_open_orders,
    In.REQ_ALL_OPEN_ORDERS: _req_all_open_orders,
    In.REQ_AUTO_OPEN_ORDERS: _req_auto_open_orders,
    In.REQ_COMPLETED_ORDERS: _req_completed_orders,
    In.REQ_ACCOUNT_UPDATES: _req_account_updates,
    In.REQ_ACCOUNT_UPDATES_MULTI: _req_account_updates_multi,
    In.CANCEL_ACCOUNT_UPDATES_MULTI: _cancel_account_updates_multi,
    In.REQ_EXECUTIONS: _req_executions,
    In.PLACE_ORDER: _place_order,
    In.CANCEL_ORDER: _cancel_order,
    In.REQ_GLOBAL_CANCEL: _req_global_cancel,
}
