"""The wheel-cycle ledger: a pure function from executions to cycles (no I/O, no TWS).

A cycle belongs to one symbol and runs from the first execution that opens a position in it (usually a
cash-secured put sold, or shares held before thetawheel) until nothing is left: no shares and no
option position (shares called away or sold, or a put expired or closed without assignment). Rules and
their sources: ``docs/wheel-rules.md`` "The cycle".

Executions are those TWS reports — the service's own fills (orderRef = intent key) and TWS's own
assignment and exercise executions (orderId 0, empty orderRef, the option at price 0 and the stock at
the strike) — plus the ones the monitor books where TWS reports no trade (:class:`ExecutionSource`):
a lapsed option (``expiry``), an assignment seen only in the positions (``inferred``) and shares held
before thetawheel started (``opening``, at TWS's average cost).

Figures (dollars unless said otherwise; :class:`shared.trade.Cycle` documents each):

- premium of an option leg = −signed quantity × price × multiplier (+ for a sale);
- shares are carried at average cost; stock P&L = proceeds − average cost of the shares sold;
- adjusted cost basis per share = (cost of the shares held − net premiums + commissions) ÷ shares held
  (wheel-rules step 3, with commissions added as the issue tracker defines it);
- realized P&L = stock P&L + premiums of option positions no longer open − commissions (on a closed
  cycle: stock P&L + all premiums − all commissions, wheel-rules step 5);
- collateral = the most capital tied up at once: short puts' strike × multiplier × contracts plus the
  cost of the shares held;
- annualized return = realized P&L ÷ collateral × 365 ÷ max(days open, 1) (calendar days, US/Eastern dates).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from shared.db import parse_ts
from shared.trade import Cycle, CycleLeg, CycleStage, Execution, ExecutionSource, LegKind, Right, Side

ET = ZoneInfo("America/New_York")
#: Price tolerance (dollars per share) when matching an assignment's stock delivery to its strike.
_PRICE_EPS = 1e-6


class LedgerError(ValueError):
    """An execution the ledger cannot place in a wheel (one line naming the execution and the field)."""


def _et_date(ts: str) -> str:
    return parse_ts(ts).astimezone(ET).date().isoformat()


def validate(e: Execution) -> None:
    """Raise :class:`LedgerError` for an execution that is not a stock or option trade with sane numbers."""
    if e.sec_type not in ("STK", "OPT"):
        raise LedgerError(
            f"execution {e.exec_id}: security type {e.sec_type!r} of {e.local_symbol} is not part of a "
            "wheel (STK or OPT)"
        )
    if not math.isfinite(e.quantity) or e.quantity <= 0:
        raise LedgerError(f"execution {e.exec_id}: quantity {e.quantity!r} must be a positive number")
    if not math.isfinite(e.price) or e.price < 0:
        raise LedgerError(f"execution {e.exec_id}: price {e.price!r} must be a number >= 0")
    if e.sec_type == "OPT" and (e.expiry is None or e.strike is None or e.right is None):
        raise LedgerError(f"execution {e.exec_id}: option {e.local_symbol} lacks its expiry, strike or right")
    if e.multiplier <= 0:
        raise LedgerError(f"execution {e.exec_id}: multiplier {e.multiplier!r} must be positive")


def _is_tws_delivery(e: Execution) -> bool:
    """An execution TWS booked itself (assignment/exercise), or one the monitor inferred."""
    return e.source is ExecutionSource.INFERRED or (
        e.source is ExecutionSource.TWS and not e.order_ref and e.order_id == 0
    )


def pair_deliveries(execs: list[Execution]) -> dict[str, str]:
    """Match each option closed at price 0 by TWS to the stock delivered at its strike (same symbol,
    shares = contracts × multiplier, same US/Eastern date). Returns option exec_id → stock exec_id."""
    pairs: dict[str, str] = {}
    used: set[str] = set()
    stock = [e for e in execs if e.sec_type == "STK" and _is_tws_delivery(e)]
    for o in execs:
        if o.sec_type != "OPT" or o.price != 0 or not _is_tws_delivery(o) or o.strike is None:
            continue
        for s in stock:
            if (
                s.exec_id not in used
                and s.symbol == o.symbol
                and abs(s.price - o.strike) < _PRICE_EPS
                and abs(s.quantity - o.quantity * o.multiplier) < 1e-9
                and _et_date(s.time) == _et_date(o.time)
            ):
                pairs[o.exec_id] = s.exec_id
                used.add(s.exec_id)
                break
    return pairs


@dataclass(frozen=True)
class OpenOption:
    """An option position the ledger holds open: its latest execution (for the contract's fields) and
    the signed number of contracts (negative = short)."""

    last: Execution
    contracts: float


@dataclass(frozen=True)
class LedgerState:
    """What :func:`build_ledger` returns: the cycles, open options by conId, shares held by symbol."""

    cycles: list[Cycle]
    options: dict[int, OpenOption]
    shares: dict[str, float]


@dataclass
class _Book:
    """Running state of one symbol's open cycle."""

    cycle: Cycle
    options: dict[int, float] = field(default_factory=dict)  # conId → signed contracts
    open_premium: dict[int, float] = field(default_factory=dict)  # conId → premium of the open position
    strikes: dict[int, tuple[float, Right, int]] = field(default_factory=dict)  # conId → strike, right, mult
    share_cost: float = 0.0  # dollars, average cost of the shares held
    contracts: dict[int, Execution] = field(default_factory=dict)  # conId → its latest execution

    def flat(self) -> bool:
        return abs(self.cycle.shares) < 1e-9 and all(abs(q) < 1e-9 for q in self.options.values())

    def committed(self) -> float:
        puts = sum(
            -q * self.strikes[c][0] * self.strikes[c][2]
            for c, q in self.options.items()
            if q < 0 and self.strikes[c][1] is Right.PUT
        )
        return puts + max(self.share_cost, 0.0)


def _option_kind(e: Execution, closing: bool, delivered: bool) -> LegKind:
    put = e.right is Right.PUT
    if e.source is ExecutionSource.EXPIRY or (
        closing and e.price == 0 and _is_tws_delivery(e) and not delivered
    ):
        return LegKind.PUT_EXPIRED if put else LegKind.CALL_EXPIRED
    if delivered:
        return LegKind.PUT_ASSIGNED if put else LegKind.CALL_ASSIGNED
    if e.side is Side.SOLD:
        return LegKind.SELL_PUT if put else LegKind.SELL_CALL
    return LegKind.BUY_PUT if put else LegKind.BUY_CALL


def _stock_kind(e: Execution, delivered: bool) -> LegKind:
    if e.source is ExecutionSource.OPENING:
        return LegKind.SHARES_OPENING
    if delivered:
        return LegKind.SHARES_ASSIGNED if e.side is Side.BOUGHT else LegKind.SHARES_CALLED_AWAY
    return LegKind.SHARES_BOUGHT if e.side is Side.BOUGHT else LegKind.SHARES_SOLD


def _apply_option(book: _Book, e: Execution, delivered: bool) -> CycleLeg:
    c = book.cycle
    before = book.options.get(e.con_id, 0.0)
    signed = e.signed_quantity
    closing = before != 0 and (before > 0) != (signed > 0)
    premium = e.cash
    assert e.strike is not None and e.right is not None
    book.strikes[e.con_id] = (e.strike, e.right, e.multiplier)
    book.contracts[e.con_id] = e
    if closing:
        closed = min(abs(signed), abs(before))
        book.open_premium[e.con_id] = book.open_premium.get(e.con_id, 0.0) * (1 - closed / abs(before))
        rest = abs(signed) - closed  # a trade through zero opens the other way
        book.open_premium[e.con_id] += premium * rest / abs(signed)
    else:
        book.open_premium[e.con_id] = book.open_premium.get(e.con_id, 0.0) + premium
    book.options[e.con_id] = before + signed
    c.premiums += premium
    return _leg(e, _option_kind(e, closing, delivered), premium)


def _leg(e: Execution, kind: LegKind, premium: float) -> CycleLeg:
    """The cycle leg that books execution ``e`` (contract fields copied; premium in dollars)."""
    return CycleLeg(
        kind=kind,
        exec_id=e.exec_id,
        time=e.time,
        con_id=e.con_id,
        local_symbol=e.local_symbol,
        quantity=e.quantity,
        price=e.price,
        premium=premium,
        commission=e.commission or 0.0,
        expiry=e.expiry,
        strike=e.strike,
        right=e.right,
    )


def _apply_stock(book: _Book, e: Execution, delivered: bool) -> CycleLeg:
    c = book.cycle
    if e.side is Side.BOUGHT:
        book.share_cost += e.quantity * e.price
        c.assigned_shares += e.quantity
        c.assignment_cost += e.quantity * e.price
        c.assignment_price = c.assignment_cost / c.assigned_shares
        c.shares += e.quantity
        c.preexisting = c.preexisting or e.source is ExecutionSource.OPENING
    else:
        avg = book.share_cost / c.shares if c.shares > 1e-9 else e.price
        sold = min(e.quantity, max(c.shares, 0.0))
        c.stock_pnl += sold * (e.price - avg)
        book.share_cost -= sold * avg
        c.shares -= e.quantity
    return _leg(e, _stock_kind(e, delivered), 0.0)


def _finish(book: _Book, as_of: datetime) -> None:
    """Fill in the derived figures of ``book.cycle`` (stage, basis, P&L, days, return)."""
    c = book.cycle
    c.commissions = sum(leg.commission for leg in c.legs)
    open_premium = sum(p for con, p in book.open_premium.items() if abs(book.options.get(con, 0.0)) > 1e-9)
    c.realized_pnl = c.stock_pnl + c.premiums - open_premium - c.commissions
    if c.shares > 1e-9:
        c.adjusted_cost_basis = (book.share_cost - c.premiums + c.commissions) / c.shares
        short_call = any(q < 0 and book.strikes[k][1] is Right.CALL for k, q in book.options.items())
        c.stage = CycleStage.SHARES_CALL if short_call else CycleStage.SHARES
    else:
        c.adjusted_cost_basis = None
    if c.closed_at is not None:
        c.stage = CycleStage.CLOSED
        c.realized_pnl = c.stock_pnl + c.premiums - c.commissions
    end = parse_ts(c.closed_at) if c.closed_at else as_of
    start = parse_ts(c.started_at)
    c.days_open = max((end.astimezone(ET).date() - start.astimezone(ET).date()).days, 0)
    c.annualized_return = (
        c.realized_pnl / c.collateral * 365 / max(c.days_open, 1) if c.collateral > 0 else None
    )


def _units(execs: list[Execution]) -> list[list[Execution]]:
    """Executions in booking order, grouped so that a cycle is only checked for closing between groups:
    one group per timestamp, with each assignment's stock delivery kept beside its option leg."""
    pairs = pair_deliveries(execs)
    by_id = {e.exec_id: e for e in execs}
    paired_stock = set(pairs.values())
    units: list[list[Execution]] = []
    for e in execs:
        if e.exec_id in paired_stock:
            continue
        group = [e] + ([by_id[pairs[e.exec_id]]] if e.exec_id in pairs else [])
        if units and units[-1][0].time == e.time:
            units[-1].extend(group)
        else:
            units.append(group)
    return units


def build_ledger(executions: Iterable[Execution], as_of: datetime) -> LedgerState:
    """Every wheel cycle of every symbol (sorted by symbol, then start) from ``executions`` (any order),
    and the option and share positions the ledger holds open.

    ``as_of`` (aware datetime, TWS's clock) ends the days count of open cycles. Raises
    :class:`LedgerError` naming the first execution that cannot be booked; nothing is returned then.
    """
    execs = sorted(executions, key=lambda e: (parse_ts(e.time), e.sec_type != "OPT", e.exec_id))
    for e in execs:
        validate(e)
    pairs = pair_deliveries(execs)
    delivered = set(pairs) | set(pairs.values())
    books: dict[str, _Book] = {}
    done: list[Cycle] = []
    for unit in _units(execs):
        touched: list[_Book] = []
        for e in unit:
            book = books.get(e.symbol)
            if book is None:
                book = books[e.symbol] = _Book(Cycle(symbol=e.symbol, started_at=e.time))
            apply = _apply_option if e.sec_type == "OPT" else _apply_stock
            book.cycle.legs.append(apply(book, e, e.exec_id in delivered))
            book.cycle.collateral = max(book.cycle.collateral, book.committed())
            if book not in touched:
                touched.append(book)
        for book in touched:
            if book.flat():
                book.cycle.closed_at = unit[-1].time
                _finish(book, as_of)
                done.append(book.cycle)
                del books[book.cycle.symbol]
    options: dict[int, OpenOption] = {}
    shares: dict[str, float] = {}
    for book in books.values():
        _finish(book, as_of)
        done.append(book.cycle)
        shares[book.cycle.symbol] = book.cycle.shares
        for con_id, qty in book.options.items():
            if abs(qty) > 1e-9:
                options[con_id] = OpenOption(book.contracts[con_id], qty)
    return LedgerState(sorted(done, key=lambda c: (c.symbol, c.started_at)), options, shares)


def build_cycles(executions: Iterable[Execution], as_of: datetime) -> list[Cycle]:
    """The cycles of :func:`build_ledger` (same arguments and errors)."""
    return build_ledger(executions, as_of).cycles
