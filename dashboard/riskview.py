"""The Overview's risk figures: collateral committed and free against the limits, the day's P&L and the halts.

Read with the executor's own readers (:mod:`shared.riskdata`), so the page shows what the risk gate sees.
Money in dollars; every ``fraction`` is of net liquidation (0.20 = 20 %), like the limits in
:class:`shared.strategy.RiskRules`:

- short-put collateral **held**: strike × 100 × contracts of the short puts in the positions;
- **pending**: the unfilled part of put orders working at TWS and active ``sell_put`` intents;
- **available funds** (TWS's ``AvailableFunds``); **free** = available − pending: what a new put may use;
- total CSP collateral (held + pending) against ``max_csp_collateral_fraction`` (60 %);
- cash reserve = cash − total CSP collateral against ``min_cash_reserve_fraction`` (10 %);
- margin cushion = excess liquidity ÷ net liquidation against ``min_margin_cushion`` (25 %);
- per symbol: puts held + pending + shares against ``max_symbol_fraction`` (20 %).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from dashboard.queries import Row
from shared import schema as s
from shared.marketcal import trading_day
from shared.riskdata import account_figures, daily_loss_reason, exposure, halt_state, tws_now
from shared.strategy import RiskRules


def _frac(dollars: float | None, nlv: float | None) -> float | None:
    if dollars is None or not nlv or nlv <= 0:
        return None
    return dollars / nlv


def _figure(
    key: str,
    label: str,
    dollars: float | None,
    nlv: float | None,
    *,
    limit: float | None = None,
    floor: bool = False,
) -> Row:
    """One figure: dollars, fraction of net liquidation, and its limit (``floor``: a minimum, else a
    maximum) with ``limit_dollars`` and ``ok`` (``None`` when there is no limit or no figure)."""
    fraction = _frac(dollars, nlv)
    ok: bool | None = None
    if limit is not None and fraction is not None:
        ok = fraction >= limit if floor else fraction <= limit
    return {
        "key": key,
        "label": label,
        "dollars": dollars,
        "fraction": fraction,
        "limit_fraction": limit,
        "limit_kind": None if limit is None else ("min" if floor else "max"),
        "limit_dollars": None if limit is None or not nlv else limit * nlv,
        "ok": ok,
    }


_DAILY_KEYS = (
    "trading_day",
    "day_start_net_liquidation",
    "net_liquidation",
    "daily_pnl",
    "fraction",
    "limit_dollars",
    "updated_at",
)


def _daily(row: Any, today: str, rules: RiskRules) -> Row:
    """The monitor's daily P&L (``risk_state``) when it belongs to ``today`` (US/Eastern, TWS's clock)."""
    if row is None:
        empty = dict.fromkeys(_DAILY_KEYS)
        return empty | {"known": False, "today": today, "halted": False, "reason": "",
                        "limit_fraction": -rules.daily_loss_halt_fraction}  # fmt: skip
    current = row.trading_day == today
    start = row.day_start_net_liquidation
    pnl = row.daily_pnl if current else None
    return {
        "known": current,
        "trading_day": row.trading_day,
        "today": today,
        "day_start_net_liquidation": start if current else None,
        "net_liquidation": row.net_liquidation,
        "daily_pnl": pnl,
        "fraction": _frac(pnl, start),  # of the day's first net liquidation
        "limit_fraction": -rules.daily_loss_halt_fraction,
        "limit_dollars": -rules.daily_loss_halt_fraction * start if current and start else None,
        "halted": bool(current and row.daily_loss_halt),
        "reason": (row.daily_loss_reason or "") if current and row.daily_loss_halt else "",
        "updated_at": row.updated_at,
    }


def risk_overview(engine: Engine, rules: RiskRules) -> Row:
    """``{"account", "net_liquidation", "figures": [...], "symbols": [...], "daily": {...}, "halt": {...}}``
    (see the module docstring)."""
    with engine.connect() as conn:
        acct = account_figures(conn)
        exp = exposure(conn)
        halt = halt_state(conn)
        today = trading_day(tws_now(conn))
        state = conn.execute(select(s.risk_state).where(s.risk_state.c.id == 1)).first()
    nlv = acct.net_liquidation
    held = sum(e.csp_collateral for e in exp.values())
    pending = sum(e.pending_collateral for e in exp.values())
    total = held + pending
    avail = acct.available_funds
    cash = acct.total_cash
    figures = [
        _figure("csp_held", "Short-put collateral held ($)", held, nlv),
        _figure("csp_pending", "Pending: working orders + approved puts ($)", pending, nlv),
        _figure("csp_total", "Total CSP collateral ($)", total, nlv, limit=rules.max_csp_collateral_fraction),
        _figure("available_funds", "Available funds ($)", avail, nlv),
        _figure("free", "Free = available − pending ($)", None if avail is None else avail - pending, nlv),
        _figure(
            "cash_reserve",
            "Cash reserve = cash − CSP collateral ($)",
            None if cash is None else cash - total,
            nlv,
            limit=rules.min_cash_reserve_fraction,
            floor=True,
        ),
        _figure(
            "margin_cushion",
            "Margin cushion = excess liquidity ($)",
            acct.excess_liquidity,
            nlv,
            limit=rules.min_margin_cushion,
            floor=True,
        ),
    ]
    symbols = [
        {
            "symbol": sym,
            "csp_collateral": e.csp_collateral,
            "pending_collateral": e.pending_collateral,
            "share_value": e.share_value,
        }
        | _figure(sym, sym, e.total, nlv, limit=rules.max_symbol_fraction)
        for sym, e in sorted(exp.items(), key=lambda kv: (-kv[1].total, kv[0]))
    ]
    return {
        "net_liquidation": nlv,
        "account_age_seconds": acct.age_seconds,
        "figures": figures,
        "symbols": symbols,
        "daily": _daily(state, today, rules),
        "halt": {"halted": halt.halted, "by": halt.by, "at": halt.at, "reason": halt.reason},
    }


def halt_banner(engine: Engine) -> Row | None:
    """What the banner on every page says: the user's halt switch (who, when, why) and the monitor's
    daily-loss halt of today; ``None`` when neither is on."""
    with engine.connect() as conn:
        halt = halt_state(conn)
        daily = daily_loss_reason(conn, tws_now(conn))
    if not halt.halted and daily is None:
        return None
    return {
        "halted": halt.halted,
        "by": halt.by,
        "at": halt.at,
        "reason": halt.reason,
        "daily_loss": daily,
    }
