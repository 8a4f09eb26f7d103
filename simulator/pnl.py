"""reqPnL / reqPnLSingle: daily, unrealized and realized P&L of the account and of single positions.

Definitions (dollars; ``m`` = multiplier, 100 for options; marks as in :func:`make_mark`):

* **daily P&L** of a contract = what the position is worth now − what it was worth at the previous session's
  close − the net cash paid for today's trades (commissions included):
  ``qty·m·mark − qty_sod·m·ref − Σ_today(signed qty·m·price + commission)``, where ``ref`` is the previous
  close (stock: the official close; option: the model value at that close) and ``qty_sod`` the quantity
  held when the (US/Eastern) day began;
* **unrealized** = ``qty·m·mark − qty·avgCost`` (avgCost per share for stock, per contract for options);
* **realized** = the realized P&L of today's closing executions (commissions included), as TWS resets it
  daily;
* **value** (pnlSingle only) = ``qty·m·mark``.

reqPnL sums every contract held or traded today. A pnlSingle for a contract neither held nor traded today
carries TWS's unset double in every value. Updates are sent whenever a value changes by a cent or more,
checked every ``tick_interval`` (TWS sends about one per second).
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from . import encoders as enc
from .broker import Mark
from .encoders import Spec
from .protocol import FieldReader, In

if TYPE_CHECKING:
    from .ports import Handler, ServerPort, SessionPort

log = logging.getLogger("simulator.pnl")


def make_mark(server: ServerPort) -> Mark:
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


@dataclass
class PnLValues:
    """P&L figures in dollars; ``pos`` in shares/contracts; None = not applicable (sent as unset)."""

    daily: float | None
    unrealized: float | None
    realized: float | None
    pos: float = 0.0
    value: float | None = None

    def key(self) -> tuple[float | None, ...]:
        """The values rounded to cents, to detect a change worth sending."""
        return tuple(
            None if v is None else round(v, 2)
            for v in (self.pos, self.daily, self.unrealized, self.realized, self.value)
        )


@dataclass
class PnLSub:
    """One subscription: con_id None for reqPnL (the account), else reqPnLSingle of that contract."""

    con_id: int | None
    last: tuple[float | None, ...] | None = None


_SUBS: weakref.WeakKeyDictionary[SessionPort, dict[int, PnLSub]] = weakref.WeakKeyDictionary()


def _subs(s: SessionPort) -> dict[int, PnLSub]:
    subs = _SUBS.get(s)
    if subs is None:
        subs = _SUBS[s] = {}
    return subs


class DayBook:
    """P&L arithmetic for one US/Eastern day at the current marks."""

    def __init__(self, server: ServerPort, mark: Mark | None = None) -> None:
        self.server = server
        self.mark = mark or make_mark(server)
        self.today = enc.to_eastern(server.market.now()).date()
        self.today_execs = [
            e
            for e in server.broker.executions
            if not enc.is_bag(e.order.spec) and enc.to_eastern(e.time).date() == self.today
        ]

    def reference(self, spec: Spec) -> float:
        """Previous session's closing value of the contract (dollars per share). For an option: the model
        value at that close plus today's offset of the mark from the model (quotes keep their place in the
        spread), so an unchanged market gives a zero daily P&L."""
        market = self.server.market
        before: date = self.today - timedelta(days=1)
        if enc.is_option(spec):
            offset = self.mark(spec) - market.option_quote(spec).model_price  # type: ignore[arg-type]
            return market.value_at_close(spec, before) + offset  # type: ignore[arg-type]
        return market.closing_price(spec.symbol, before)

    def single(self, con_id: int) -> PnLValues:
        """P&L of one contract (unset values when it is neither held nor traded today)."""
        broker = self.server.broker
        pos = broker.positions.get(con_id)
        trades = [e for e in self.today_execs if e.order.spec.con_id == con_id]
        if (pos is None or pos.qty == 0) and not trades:
            return PnLValues(None, None, None, pos.qty if pos else 0.0, None)
        spec = pos.spec if pos is not None else trades[0].order.spec
        m = enc.multiplier(spec)
        qty = pos.qty if pos is not None else 0.0
        price = self.mark(spec)
        bought = sum(e.shares if e.side == "BOT" else -e.shares for e in trades)
        qty_sod = qty - bought
        daily = qty * m * price
        if qty_sod:
            daily -= qty_sod * m * self.reference(spec)
        daily -= sum(
            (e.shares if e.side == "BOT" else -e.shares) * m * e.price + e.commission for e in trades
        )
        unrealized = qty * m * price - qty * (pos.avg_cost if pos is not None else 0.0)
        realized = sum(e.realized_pnl or 0.0 for e in trades)
        return PnLValues(daily, unrealized, realized, qty, qty * m * price)

    def account(self) -> PnLValues:
        """Sum over every contract held or traded today."""
        con_ids = {cid for cid, p in self.server.broker.positions.items() if p.qty != 0}
        con_ids |= {e.order.spec.con_id for e in self.today_execs}
        parts = [self.single(cid) for cid in sorted(con_ids)]
        return PnLValues(
            sum(p.daily or 0.0 for p in parts),
            sum(p.unrealized or 0.0 for p in parts),
            sum(p.realized or 0.0 for p in parts),
        )


def _send(s: SessionPort, req_id: int, sub: PnLSub, book: DayBook, force: bool) -> None:
    v = book.account() if sub.con_id is None else book.single(sub.con_id)
    key = v.key()
    if not force and key == sub.last:
        return
    sub.last = key
    if sub.con_id is None:
        s.send(enc.pnl(req_id, v.daily, v.unrealized, v.realized))
    else:
        s.send(enc.pnl_single(req_id, v.pos, v.daily, v.unrealized, v.realized, v.value))


def _check_account(s: SessionPort, req_id: int, account: str) -> bool:
    if account and account != s.server.broker.account:
        s.error(req_id, 321, f"Error validating request.-'bU' : cause - Invalid account: {account}")
        return False
    return True


def _req_pnl(s: SessionPort, r: FieldReader) -> None:
    req_id, account = r.integer(), r.text()
    if not _check_account(s, req_id, account):
        return
    sub = _subs(s)[req_id] = PnLSub(None)
    _send(s, req_id, sub, DayBook(s.server), force=True)


def _req_pnl_single(s: SessionPort, r: FieldReader) -> None:
    req_id, account = r.integer(), r.text()
    r.skip(1)  # modelCode
    con_id = r.integer()
    if not _check_account(s, req_id, account):
        return
    sub = _subs(s)[req_id] = PnLSub(con_id)
    _send(s, req_id, sub, DayBook(s.server), force=True)


def _cancel(s: SessionPort, r: FieldReader) -> None:
    _subs(s).pop(r.integer(), None)


def stream(server: ServerPort) -> None:
    """Send changed P&L to every subscription (the server's P&L loop calls this every tick interval)."""
    sessions = [s for s in list(server.sessions.values()) if _SUBS.get(s)]
    if not sessions:
        return
    book = DayBook(server)
    for session in sessions:
        for req_id, sub in list(_subs(session).items()):
            _send(session, req_id, sub, book, force=False)


HANDLERS: dict[int, Handler] = {
    In.REQ_PNL: _req_pnl,
    In.CANCEL_PNL: _cancel,
    In.REQ_PNL_SINGLE: _req_pnl_single,
    In.CANCEL_PNL_SINGLE: _cancel,
}
