"""What the monitor books where TWS reports no trade: lapses, unreported assignments, shares held before.

Pure function (no I/O): compares the ledger's open positions (:class:`shared.ledger.LedgerState`) with
the positions TWS holds and returns the executions that explain the difference, marked with their
:class:`~shared.trade.ExecutionSource` so the user (and ``thetawheel ledger rebuild``) can tell them from
TWS's own. They are stored in the ``executions`` table like any other, so a rebuild gives the same cycles.

- An option the ledger holds whose expiry date (US/Eastern) is today or earlier and which TWS no longer
  holds was settled at its expiry's close (16:00 ET): assigned or exercised when the shares at TWS
  differ from the ledger's by exactly its delivery (contracts × multiplier, at the strike; ``inferred``),
  otherwise it lapsed (``expiry``, at price 0). IB charges no commission for either
  (ibkr.info/node/186).
- Shares TWS holds beyond what the executions explain were held before thetawheel started (or bought
  on a day the monitor did not see): one ``opening`` purchase at TWS's average cost per share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time

from shared.db import parse_ts
from shared.ledger import ET, LedgerState
from shared.trade import Execution, ExecutionSource, Right, Side

#: Share counts closer than this are equal.
_EPS = 1e-6


@dataclass(frozen=True)
class HeldPosition:
    """A position TWS reports. ``quantity`` signed (contracts or shares); ``avg_cost`` dollars per share
    for stock (IB reports options per contract; unused here)."""

    symbol: str
    sec_type: str
    con_id: int
    quantity: float
    avg_cost: float | None = None


def _close_of(expiry: str) -> str:
    """16:00 US/Eastern on ``expiry`` (YYYYMMDD) as ISO-8601 UTC, the settlement time of a booking."""
    day = datetime.strptime(expiry, "%Y%m%d").date()
    return datetime.combine(day, time(16, 0), tzinfo=ET).astimezone(ET).isoformat()


def _utc(ts: str) -> str:
    return parse_ts(ts).astimezone(UTC).isoformat()


@dataclass(frozen=True)
class Reconciliation:
    """The executions to book, and differences that cannot be explained (one line each, for the log)."""

    executions: list[Execution]
    warnings: list[str]


def missing_executions(state: LedgerState, held: Iterable[HeldPosition], now: datetime) -> Reconciliation:
    """Executions that reconcile the ledger with TWS's positions at ``now`` (aware, TWS's clock)."""
    positions = list(held)
    option_held = {p.con_id for p in positions if p.sec_type == "OPT" and abs(p.quantity) > _EPS}
    stock_at_tws: dict[str, HeldPosition] = {p.symbol: p for p in positions if p.sec_type == "STK"}
    diff: dict[str, float] = {}
    for sym in set(state.shares) | set(stock_at_tws):
        tws = stock_at_tws[sym].quantity if sym in stock_at_tws else 0.0
        diff[sym] = tws - state.shares.get(sym, 0.0)
    today = now.astimezone(ET).date().strftime("%Y%m%d")
    out: list[Execution] = []
    warnings: list[str] = []
    for con_id, pos in sorted(state.options.items()):
        e = pos.last
        assert e.expiry is not None and e.strike is not None and e.right is not None
        if con_id in option_held:
            continue
        if e.expiry > today:
            warnings.append(
                f"ledger: {e.local_symbol} ({pos.contracts:+g} contracts) is no longer held at TWS before "
                f"its expiry {e.expiry}; it was closed outside thetawheel on a day the monitor did not see — "
                "not booked"
            )
            continue
        n = abs(pos.contracts)
        delivered = n * e.multiplier
        # shares that move on delivery: +when a short put is assigned or a long call exercised
        gets_shares = (pos.contracts < 0) == (e.right is Right.PUT)
        moved = delivered if gets_shares else -delivered
        # the option leaves at price 0 at its expiry's close, with no commission (ibkr.info/node/186)
        close = replace(
            e,
            time=_utc(_close_of(e.expiry)),
            side=Side.BOUGHT if pos.contracts < 0 else Side.SOLD,
            quantity=n,
            price=0.0,
            commission=0.0,
            order_ref="",
            order_id=0,
            perm_id=0,
        )
        have = diff.get(e.symbol, 0.0)
        if (moved > 0 and have >= moved - _EPS) or (moved < 0 and have <= moved + _EPS):
            stock_con = stock_at_tws[e.symbol].con_id if e.symbol in stock_at_tws else 0
            out.append(
                replace(close, exec_id=f"TW-ASG-{con_id}-{e.expiry}-O", source=ExecutionSource.INFERRED)
            )
            out.append(
                replace(
                    close,
                    exec_id=f"TW-ASG-{con_id}-{e.expiry}-S",
                    source=ExecutionSource.INFERRED,
                    sec_type="STK",
                    con_id=stock_con,
                    local_symbol=e.symbol,
                    side=Side.BOUGHT if moved > 0 else Side.SOLD,
                    quantity=delivered,
                    price=e.strike,
                    multiplier=1,
                    expiry=None,
                    strike=None,
                    right=None,
                )
            )
            diff[e.symbol] = have - moved
        else:
            out.append(replace(close, exec_id=f"TW-EXP-{con_id}-{e.expiry}", source=ExecutionSource.EXPIRY))
    stamp = now.astimezone(ET).strftime("%Y%m%dT%H%M%S")
    for sym, extra in sorted(diff.items()):
        p = stock_at_tws.get(sym)
        if extra > _EPS and p is not None and p.avg_cost is not None and p.avg_cost > 0:
            out.append(
                Execution(
                    exec_id=f"TW-OPEN-{sym}-{stamp}",
                    source=ExecutionSource.OPENING,
                    time=_utc(now.isoformat()),
                    symbol=sym,
                    sec_type="STK",
                    con_id=p.con_id,
                    local_symbol=sym,
                    side=Side.BOUGHT,
                    quantity=extra,
                    price=p.avg_cost,
                    commission=0.0,
                )
            )
        elif extra < -_EPS:
            warnings.append(
                f"ledger: TWS holds {p.quantity if p else 0.0:g} {sym} shares but the executions explain "
                f"{state.shares.get(sym, 0.0):g}; the difference was sold outside thetawheel on a day the "
                "monitor did not see — not booked"
            )
    return Reconciliation(out, warnings)
