"""Option expiration, exercise and assignment at the close of each session, the way IB books them.

At the close of an option's last trade date (16:00 ET, or 13:00 ET on an early-close day) every position in
it is settled against the underlying's official closing price:

* **OTM** (in the money by less than $0.01, OCC's exercise-by-exception threshold): it lapses. The position
  goes to zero and its premium becomes realized P&L. IB reports no trade for a lapse: API clients see the
  position (``position`` / ``portfolioValue``) drop to 0 and the account values change.
* **ITM short**: assigned; **ITM long**: exercised. Two executions are booked, as in TWS's trade log: the
  option leg closes at price 0 (``BOT`` for a short, ``SLD`` for a long; realized P&L = the premium), and the
  stock is delivered at the strike: a short put or a long call buys 100 shares per contract, a short call or
  a long put sells them. Cash moves by strike × 100 × contracts. Both executions carry orderId 0, clientId 0,
  permId 0, an empty orderRef and exchange, and commission 0 (IB charges none for US equity option
  exercise or assignment: ibkr.info/node/186). The stock keeps the strike as its average cost (the premium
  stays in the option's realized P&L; IB's tax lots fold it into the basis instead, which is not modelled).

Deviations from IB (documented in the README): IB books expiries overnight (OCC processing, visible around
2-3 am ET); the simulator books them at the close, so the executions are dated at the close and belong to
that day's ``reqExecutions``. Live ``execDetails`` for these executions go to every connected client.

Optional early assignment (``--early-assignment``): at the close of the session before an ex-dividend date
a short call that is in the money is assigned when the dividend exceeds its remaining time value (model
value at the close − intrinsic). It needs ex-dividend dates in the market data (``dividends.json``); without
them it never fires.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from . import encoders as enc
from .broker import Broker, SimExecution, SimOrder
from .encoders import Spec
from .market_types import OptionSpec
from .reports import order_status, push_account_updates, send_execution

if TYPE_CHECKING:
    from .market import Market
    from .ports import ServerPort

log = logging.getLogger("simulator.expiry")

#: An option in the money by at least this much (USD per share) is exercised (OCC exercise by exception).
EXERCISE_THRESHOLD = 0.01


@dataclass
class Settlement:
    """What happened to one option position. ``qty`` is the signed position before (contracts)."""

    spec: OptionSpec
    qty: float
    underlying_close: float  # USD per share
    kind: str  # "expired", "assigned" or "exercised"
    realized: float  # USD, the option leg's realized P&L
    executions: list[SimExecution] = field(default_factory=list)
    stock: Spec | None = None  # the delivered underlying, when exercised/assigned


def _book(
    broker: Broker, spec: Spec, signed: float, price: float, when: datetime
) -> tuple[SimExecution, float | None]:
    """Book ``signed`` units of ``spec`` at ``price`` (USD per share) with no commission; returns the
    execution and its realized P&L (None when it opens a position). Cash moves by −signed × price × mult."""
    realized = broker._apply_position(spec, signed, price, 0.0)
    broker.cash -= signed * price * enc.multiplier(spec)
    qty = abs(signed)
    order = SimOrder(
        order_id=0,
        client_id=0,
        perm_id=0,
        spec=spec,
        action="BUY" if signed > 0 else "SELL",
        quantity=qty,
        order_type="MKT",
        lmt_price=0.0,
        account=broker.account,
        tif="",
        status="Filled",
        filled=qty,
        avg_fill_price=price,
        last_fill_price=price,
    )
    execution = SimExecution(
        exec_id=broker.next_exec_id(),
        order=order,
        time=when,
        side="BOT" if signed > 0 else "SLD",
        shares=qty,
        price=price,
        cum_qty=qty,
        avg_price=price,
        commission=0.0,
        realized_pnl=realized,
        exchange="",
    )
    broker.executions.append(execution)
    return execution, realized


def intrinsic(spec: OptionSpec, underlying: float) -> float:
    """In-the-money amount (USD per share, ≥ 0) of an option at the underlying price ``underlying``."""
    if spec.right == "C":
        return max(underlying - spec.strike, 0.0)
    return max(spec.strike - underlying, 0.0)


def _deliver(
    broker: Broker, market: Market, spec: OptionSpec, qty: float, close: float, when: datetime, kind: str
) -> Settlement:
    """Exercise (long) or assignment (short) of ``qty`` contracts: option leg at 0, stock at the strike."""
    opt_exec, realized = _book(broker, spec, -qty, 0.0, when)
    stock = market.stock(spec.symbol)
    settlement = Settlement(spec, qty, close, kind, realized or 0.0, [opt_exec], stock)
    if stock is None:  # cannot happen for listed options; keep the books consistent anyway
        log.error("no underlying %s for %s; option closed without delivery", spec.symbol, spec.local_symbol)
        return settlement
    shares = (qty if spec.right == "C" else -qty) * spec.multiplier
    stock_exec, _ = _book(broker, stock, shares, spec.strike, when)
    settlement.executions.append(stock_exec)
    return settlement


def settle_expiries(broker: Broker, market: Market, day: date, when: datetime) -> list[Settlement]:
    """Settle every option position whose last trade date is on or before ``day`` (the session that just
    closed at ``when``): lapse, exercise or assignment at the underlying's close of its expiry session."""
    out: list[Settlement] = []
    for pos in list(broker.positions.values()):
        spec = pos.spec
        if not enc.is_option(spec) or abs(pos.qty) < 1e-9:
            continue
        opt: OptionSpec = spec  # type: ignore[assignment]
        expiry = datetime.strptime(opt.expiry, "%Y%m%d").date()
        if expiry > day:
            continue
        close = market.closing_price(opt.symbol, expiry)
        qty = pos.qty
        if intrinsic(opt, close) >= EXERCISE_THRESHOLD - 1e-9:
            kind = "assigned" if qty < 0 else "exercised"
            settlement = _deliver(broker, market, opt, qty, close, when, kind)
        else:
            realized = broker._apply_position(opt, -qty, 0.0, 0.0) or 0.0
            settlement = Settlement(opt, qty, close, "expired", realized)
        log.info(
            "%s %s %g (underlying close %.2f): realized %.2f",
            opt.local_symbol,
            settlement.kind,
            qty,
            close,
            settlement.realized,
        )
        out.append(settlement)
    return out


def early_assignments(
    broker: Broker, market: Market, day: date, next_session: date, when: datetime
) -> list[Settlement]:
    """Assign short ITM calls at the close of ``day`` when the underlying goes ex-dividend by the next session
    (``next_session``) and the dividend (USD per share) exceeds the call's remaining time value."""
    out: list[Settlement] = []
    for pos in list(broker.positions.values()):
        spec = pos.spec
        if not enc.is_option(spec) or pos.qty >= 0 or getattr(spec, "right", "") != "C":
            continue
        opt: OptionSpec = spec  # type: ignore[assignment]
        if datetime.strptime(opt.expiry, "%Y%m%d").date() <= day:
            continue  # expires today: regular settlement
        amount = sum(a for d, a in market.dividends(opt.symbol) if day < d <= next_session)
        if amount <= 0:
            continue
        close = market.closing_price(opt.symbol, day)
        itm = intrinsic(opt, close)
        time_value = market.value_at_close(opt, day) - itm
        if itm >= EXERCISE_THRESHOLD and amount > time_value:
            settlement = _deliver(broker, market, opt, pos.qty, close, when, "assigned")
            log.info(
                "%s assigned early before ex-dividend %s (dividend %.2f > time value %.2f)",
                opt.local_symbol,
                next_session,
                amount,
                time_value,
            )
            out.append(settlement)
    return out


def expire_day_orders(broker: Broker) -> list[SimOrder]:
    """Cancel every working DAY order (TWS cancels them at the close); returns them."""
    done = []
    for order in broker.open_orders():
        if order.tif in ("DAY", ""):
            broker.finish(order, "Cancelled")
            done.append(order)
    return done


def announce(server: ServerPort, settlements: list[Settlement], cancelled: list[SimOrder]) -> None:
    """Tell the connected clients: orderStatus for expired DAY orders, execDetails + commissionReport for
    exercise/assignment executions, position updates, then account values and portfolio."""
    broker = server.broker
    for order in cancelled:
        owner = server.sessions.get(order.client_id)
        if owner is not None:
            owner.send(order_status(order))
    changed: dict[int, Spec] = {}
    for st in settlements:
        changed[st.spec.con_id] = st.spec
        if st.stock is not None:
            changed[st.stock.con_id] = st.stock
    for session in list(server.sessions.values()):
        for st in settlements:
            for e in st.executions:
                send_execution(session, -1, e)
                session.send(enc.commission_report(e.exec_id, e.commission, e.realized_pnl))
        if session.positions_subscribed:
            for con_id in changed:
                pos = broker.positions[con_id]
                session.send(enc.position(broker.account, pos.spec, pos.qty, pos.avg_cost))
    if settlements or cancelled:
        push_account_updates(server)
