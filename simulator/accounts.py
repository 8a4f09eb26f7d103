"""Account and order requests: positions, account updates, open/completed orders, executions, placeOrder,
cancelOrder, plus the fill job and account pushes. Bookkeeping itself lives in ``broker.py``."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from . import combo
from . import encoders as enc
from .broker import Mark, OrderRejected, SimExecution, SimOrder
from .encoders import Spec
from .inbound import ExecFilter, read_exec_filter, read_place_order
from .marketdata import NO_SECDEF, resolve
from .openorder import completed_order, open_order
from .protocol import FieldReader, In

if TYPE_CHECKING:
    from .server import Handler, Session, SimServer

log = logging.getLogger("simulator.accounts")


# ---------------------------------------------------------------------- marks
def make_mark(server: SimServer) -> Mark:
    """A cached mark function (dollars per share): stock last, option mid (model price when no market)."""
    cache: dict[int, float] = {}

    def mark(spec: Spec) -> float:
        if enc.is_bag(spec):  # a combo's net mark per share: Σ sign × ratio × leg mark
            return sum(leg.sign * leg.ratio * mark(leg.spec) for leg in spec.legs)
        if spec.con_id not in cache:
            if enc.is_option(spec):
                q = server.market.option_quote(spec)  # type: ignore[arg-type]
                cache[spec.con_id] = (q.bid + q.ask) / 2 if q.bid > 0 and q.ask > 0 else q.model_price
            else:
                sq = server.market.stock_quote(spec.symbol)
                cache[spec.con_id] = sq.last if sq.last > 0 else (sq.bid + sq.ask) / 2
        return cache[spec.con_id]

    return mark


# ---------------------------------------------------------------------- start-up sync
def _req_positions(s: Session, r: FieldReader) -> None:
    s.positions_subscribed = True
    broker = s.server.broker
    for pos in broker.positions.values():
        s.send(enc.position(broker.account, pos.spec, pos.qty, pos.avg_cost))
    s.send(enc.position_end())


def _cancel_positions(s: Session, r: FieldReader) -> None:
    s.positions_subscribed = False


def send_order_state(s: Session, order: SimOrder) -> None:
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


def _req_open_orders(s: Session, r: FieldReader) -> None:
    for order in s.server.broker.open_orders(s.client_id):
        send_order_state(s, order)
    s.send([53, 1])


def _req_all_open_orders(s: Session, r: FieldReader) -> None:
    for order in s.server.broker.open_orders():
        send_order_state(s, order)
    s.send([53, 1])


def _req_auto_open_orders(s: Session, r: FieldReader) -> None:
    r.skip(1)
    s.auto_open_orders = r.flag() and s.client_id == 0


def _req_completed_orders(s: Session, r: FieldReader) -> None:
    """The day's filled and cancelled orders of every client (apiOnly is not distinguished: all orders
    here come through the API), then completedOrdersEnd."""
    day = enc.to_eastern(s.server.market.now()).date()
    for order in s.server.broker.completed_orders(day):
        s.send(completed_order(order, s.version))
    s.send([102])


def account_rows(server: SimServer) -> list[tuple[str, str, str]]:
    """accountValue rows (key, value, currency) at current marks."""
    return server.broker.account_values(make_mark(server))


def send_account(s: Session, end: bool) -> None:
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


def _req_account_updates(s: Session, r: FieldReader) -> None:
    r.skip(1)
    subscribe = r.flag()
    acct = r.text()
    if acct and acct != s.server.broker.account:
        s.error(-1, 321, f"Error validating request.-'bB' : cause - Unknown account {acct}")
        return
    s.account_subscribed = subscribe
    if subscribe:
        send_account(s, end=True)


def _send_multi(s: Session, req_id: int) -> None:
    broker = s.server.broker
    for key, value, cur in account_rows(s.server):
        s.send(enc.account_update_multi(req_id, broker.account, "", key, value, cur))


def _req_account_updates_multi(s: Session, r: FieldReader) -> None:
    r.skip(1)
    req_id = r.integer()
    acct = r.text()
    if acct and acct not in (s.server.broker.account, "All"):
        s.error(req_id, 321, f"Error validating request.-'bB' : cause - Unknown account {acct}")
        return
    s.multi_subs.add(req_id)
    _send_multi(s, req_id)
    s.send(enc.account_update_multi_end(req_id))


def _cancel_account_updates_multi(s: Session, r: FieldReader) -> None:
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


def send_execution(s: Session, req_id: int, e: SimExecution) -> None:
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


def _req_executions(s: Session, r: FieldReader) -> None:
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
def _place_order(s: Session, r: FieldReader) -> None:
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


def _cancel_order(s: Session, r: FieldReader) -> None:
    assert s.client_id is not None
    r.skip(1)
    order_id = r.integer()
    order = s.server.broker.cancel(s.client_id, order_id)
    if order is None:
        s.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
        return
    _announce_cancel(s, order)


def _announce_cancel(s: Session, order: SimOrder) -> None:
    log.info("client %d order %d cancelled", order.client_id, order.order_id)
    s.send(order_status(order))
    s.error(order.order_id, 202, "Order Canceled - reason:")


def _req_global_cancel(s: Session, r: FieldReader) -> None:
    server = s.server
    for order in server.broker.open_orders():
        server.broker.cancel(order.client_id, order.order_id)
        owner = server.sessions.get(order.client_id)
        if owner is not None:
            _announce_cancel(owner, order)


# ---------------------------------------------------------------------- fills and pushes
def check_orders(server: SimServer) -> None:
    """Fill working orders that are due (partial fills and combos: see ``fills.py``)."""
    from . import fills

    fills.check_orders(server)


def push_account_updates(server: SimServer) -> None:
    """Re-send account values and portfolio to every subscribed session (no End)."""
    for session in list(server.sessions.values()):
        if session.account_subscribed:
            send_account(session, end=False)
        for req_id in session.multi_subs:
            _send_multi(session, req_id)
    from . import summary

    summary.push(server)  # changed reqAccountSummary rows


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
