"""Read what the risk gate (:mod:`shared.risk`) looks at from the shared database, the same way for the
executor (before it places an intent) and the dashboard (before it creates one).

- the account: the monitor's newest ``account_snapshots`` row and its age;
- exposure per symbol: short puts and shares in ``positions`` (the monitor's copy of TWS's portfolio), and
  the unfilled part of every active ``sell_put`` intent (approved, being placed or working at TWS);
- the halt switch: the newest ``halt`` / ``resume`` row of ``commands`` (effective the moment the
  dashboard writes it, whether or not the monitor has seen it yet);
- the daily-loss halt: ``risk_state`` when its trading day is today's (US/Eastern, TWS's clock);
- TWS's clock for a process without a connection (the dashboard): this machine's clock plus the offset the
  monitor measured at its last refresh (:func:`tws_now`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from shared import schema as s
from shared.db import parse_ts, utcnow
from shared.marketcal import Session, trading_day
from shared.risk import AccountFigures, RiskSnapshot, SymbolExposure
from shared.trade import ACTIVE_INTENT_STATUSES, CommandKind, IntentKind

_ACTIVE = [st.value for st in ACTIVE_INTENT_STATUSES]


@dataclass(frozen=True)
class HaltState:
    """The user's halt switch: on when the newest halt / resume command is a halt (``by`` and ``at`` say who
    switched it and when, ``at`` ISO-8601 UTC)."""

    halted: bool
    by: str = ""
    at: str = ""
    reason: str = ""


def halt_state(conn: Connection) -> HaltState:
    """The halt switch from the newest ``halt`` / ``resume`` command (off when there is none)."""
    c = s.commands.c
    row = conn.execute(
        select(c.kind, c.actor, c.created_at, c.reason)
        .where(c.kind.in_([CommandKind.HALT.value, CommandKind.RESUME.value]))
        .order_by(c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return HaltState(False)
    return HaltState(row.kind == CommandKind.HALT.value, row.actor, row.created_at, row.reason or "")


def account_figures(conn: Connection, wall_now: datetime | None = None) -> AccountFigures:
    """The newest account snapshot (dollars) and its age in seconds on this machine's clock."""
    a = s.account_snapshots.c
    row = conn.execute(select(s.account_snapshots).order_by(a.id.desc()).limit(1)).first()
    if row is None:
        return AccountFigures(None, None, None, None)
    age = ((wall_now or utcnow()) - parse_ts(row.ts)).total_seconds()
    return AccountFigures(row.net_liquidation, row.total_cash, row.available_funds, row.excess_liquidity, age)


def exposure(conn: Connection, exclude_key: str | None = None) -> dict[str, SymbolExposure]:
    """Dollars tied up per symbol: short puts held (strike × multiplier × contracts), shares held (market
    value), and the unfilled part of active ``sell_put`` intents other than ``exclude_key``."""
    held: dict[str, float] = defaultdict(float)
    shares: dict[str, float] = defaultdict(float)
    pending: dict[str, float] = defaultdict(float)
    p = s.positions.c
    for row in conn.execute(
        select(
            p.symbol, p.sec_type, p.right, p.strike, p.multiplier, p.quantity, p.market_value, p.market_price
        )
    ):
        if row.sec_type == "OPT" and row.right == "P" and row.quantity < 0 and row.strike:
            held[row.symbol] += row.strike * (row.multiplier or 100) * -row.quantity
        elif row.sec_type == "STK" and row.quantity > 0:
            value = row.market_value
            if value is None and row.market_price is not None:
                value = row.market_price * row.quantity
            shares[row.symbol] += value or 0.0
    i, o = s.intents.c, s.orders.c
    stmt = (
        select(i.key, i.symbol, i.strike, i.quantity, func.coalesce(o.filled, 0.0).label("filled"))
        .select_from(s.intents.outerjoin(s.orders, o.intent_key == i.key))
        .where(i.kind == IntentKind.SELL_PUT.value, i.status.in_(_ACTIVE))
    )
    for pend in conn.execute(stmt):
        if pend.key == exclude_key or not pend.strike:
            continue
        remaining = max(0.0, pend.quantity - (pend.filled or 0.0))
        pending[pend.symbol] += pend.strike * 100 * remaining
    return {
        sym: SymbolExposure(held.get(sym, 0.0), pending.get(sym, 0.0), shares.get(sym, 0.0))
        for sym in set(held) | set(shares) | set(pending)
    }


def daily_loss_reason(conn: Connection, now: datetime) -> str | None:
    """The monitor's daily-loss line when the limit halted new positions on ``now``'s trading day."""
    r = s.risk_state.c
    row = conn.execute(select(r.trading_day, r.daily_loss_halt, r.daily_loss_reason).where(r.id == 1)).first()
    if row is None or not row.daily_loss_halt or row.trading_day != trading_day(now):
        return None
    return row.daily_loss_reason or "the daily-loss limit halted new positions today"


def clock_offset(conn: Connection) -> timedelta:
    """TWS's clock minus this machine's, as the monitor last measured it (zero when unknown)."""
    value = conn.execute(select(s.risk_state.c.clock_offset_seconds).where(s.risk_state.c.id == 1)).scalar()
    return timedelta(seconds=float(value or 0.0))


def tws_now(conn: Connection, wall_now: datetime | None = None) -> datetime:
    """TWS's clock estimated without a connection: this machine's clock plus :func:`clock_offset`."""
    return (wall_now or utcnow()) + clock_offset(conn)


def load_snapshot(
    conn: Connection,
    *,
    now: datetime,
    session: Session | None,
    always_open: bool = False,
    restart_window: str | None = None,
    quote_age_seconds: float | None = None,
    exclude_key: str | None = None,
) -> RiskSnapshot:
    """Everything :func:`shared.risk.check` needs, read in one connection. ``now`` is TWS's clock;
    ``session`` the regular session at ``now`` (:class:`shared.marketcal.XnysSessions`); ``exclude_key``
    the intent being checked (its own collateral is the proposal's, not pending)."""
    halt = halt_state(conn)
    return RiskSnapshot(
        account=account_figures(conn),
        exposure=exposure(conn, exclude_key),
        now=now,
        session=session,
        always_open=always_open,
        restart_window=restart_window,
        quote_age_seconds=quote_age_seconds,
        halted_by=halt.by if halt.halted else None,
        halt_reason=halt.reason,
        daily_loss_reason=daily_loss_reason(conn, now),
    )
