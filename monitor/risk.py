"""The monitor's risk loop (wheel-rules "Risk limits"), run at the end of every refresh:

- ``risk_state`` (one row): the trading day (US/Eastern date of TWS's clock), its first net liquidation,
  the daily P&L and the daily-loss halt (:func:`daily_figures`; one critical alert per day), TWS's clock
  and its offset from this machine's, so that a process without a connection knows TWS's time;
- the user's halt / resume commands (``commands`` rows the dashboard writes): the halt is effective the
  moment it is written (the executor reads the newest row itself); the monitor claims each one, marks it
  done and alerts;
- portfolio alerts, once per crossing (and deduplicated): margin cushion (excess liquidity ÷ net
  liquidation) below ``risk.min_margin_cushion``; short-put collateral (strike × multiplier × contracts)
  above ``risk.max_csp_collateral_fraction`` of net liquidation.

Money in dollars; fractions of net liquidation (0.03 = 3 %).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update

from shared.db import upsert, utcnow_iso
from shared.marketcal import trading_day
from shared.schema import commands, risk_state
from shared.strategy import Strategy
from shared.trade import CommandKind

#: alert(severity, category, title, body, dedup_key)
AlertFn = Callable[..., None]


@dataclass(frozen=True)
class DayFigures:
    """One trading day's figures: ``day`` YYYY-MM-DD (US/Eastern), ``day_start`` the day's first net
    liquidation and ``nlv`` the latest (dollars), ``pnl`` = nlv − day_start (dollars), ``halt`` whether the
    daily-loss limit halted new positions for the rest of the day, ``reason`` the line saying why."""

    day: str
    day_start: float | None
    nlv: float | None
    pnl: float | None
    halt: bool = False
    reason: str = ""


def daily_figures(prev: DayFigures | None, day: str, nlv: float | None, halt_fraction: float) -> DayFigures:
    """The figures of ``day`` after a refresh that read net liquidation ``nlv`` (dollars, ``None``: unknown).

    A new day (or the first refresh) starts from ``nlv`` and clears the halt. The halt is set when the loss
    −(nlv − day start) reaches ``halt_fraction`` × day start (wheel-rules: 3 %) and stays set for the rest
    of the day, whatever the P&L does afterwards.
    """
    if prev is None or prev.day != day:
        return DayFigures(day, nlv, nlv, 0.0 if nlv is not None else None)
    start = prev.day_start if prev.day_start is not None else nlv
    if nlv is None or start is None:
        return DayFigures(day, start, prev.nlv, prev.pnl, prev.halt, prev.reason)
    pnl = nlv - start
    halt, reason = prev.halt, prev.reason
    if not halt and start > 0 and -pnl >= halt_fraction * start - 1e-9:
        halt = True
        reason = (
            f"daily loss ${-pnl:,.2f} = {-pnl / start * 100:.2f} % of the day's start ${start:,.2f} "
            f"≥ {halt_fraction * 100:.2f} % (net liquidation now ${nlv:,.2f}): new positions halted "
            f"for {day}; closing and rolling still allowed"
        )
    return DayFigures(day, start, nlv, pnl, halt, reason)


def csp_collateral(items: Iterable[Any]) -> float:
    """Dollars the short puts of ib_async portfolio items tie up: Σ strike × multiplier × contracts."""
    total = 0.0
    for item in items:
        c = item.contract
        if c.secType == "OPT" and (c.right or "")[:1] == "P" and item.position < 0 and c.strike:
            multiplier = int(float(c.multiplier)) if c.multiplier else 100
            total += float(c.strike) * multiplier * -float(item.position)
    return total


class RiskMonitor:
    """Keeps ``risk_state``, carries out halt / resume commands and raises the portfolio alerts."""

    def __init__(self, engine: Engine, strategy: Strategy, log: logging.Logger, alert: AlertFn) -> None:
        self.engine = engine
        self.strategy = strategy
        self.log = log
        self.alert = alert
        self._crossed: set[str] = set()  # portfolio alerts currently beyond their limit

    def update(
        self, account: dict[str, Any] | None, items: list[Any], tws_now: datetime, clock_offset: float
    ) -> None:
        """One refresh: ``account`` the account_snapshots row just written (``None``: no data yet), ``items``
        TWS's portfolio, ``tws_now`` TWS's clock (aware) and ``clock_offset`` TWS's clock − this machine's
        (seconds) measured when it was read."""
        self._commands()
        self._day(account, tws_now, clock_offset)
        if account is not None:
            self._portfolio(account, items)

    # -- the day ------------------------------------------------------------------------------------
    def _day(self, account: dict[str, Any] | None, tws_now: datetime, offset: float) -> None:
        rules = self.strategy.risk
        day = trading_day(tws_now)
        with self.engine.begin() as conn:
            row = conn.execute(select(risk_state).where(risk_state.c.id == 1)).first()
            prev = (
                DayFigures(
                    row.trading_day,
                    row.day_start_net_liquidation,
                    row.net_liquidation,
                    row.daily_pnl,
                    bool(row.daily_loss_halt),
                    row.daily_loss_reason or "",
                )
                if row is not None and row.trading_day
                else None
            )
            nlv = account.get("net_liquidation") if account else None
            now = daily_figures(prev, day, nlv, rules.daily_loss_halt_fraction)
            upsert(
                conn,
                risk_state,
                {
                    "id": 1,
                    "trading_day": now.day,
                    "day_start_net_liquidation": now.day_start,
                    "net_liquidation": now.nlv,
                    "daily_pnl": now.pnl,
                    "daily_loss_halt": now.halt,
                    "daily_loss_reason": now.reason,
                    "tws_time": tws_now.astimezone(UTC).isoformat(),
                    "clock_offset_seconds": offset,
                    "updated_at": utcnow_iso(),
                },
                key=("id",),
            )
        if prev is not None and prev.day != day:
            self.log.info("new trading day %s: day start net liquidation %s", day, now.day_start)
        if now.halt and not (prev is not None and prev.day == day and prev.halt):
            self.log.warning("daily-loss limit: %s", now.reason)
            self.alert(
                "critical",
                "risk",
                f"Daily loss limit: new positions halted for {day}",
                now.reason,
                dedup_key=f"daily-loss:{day}",
            )

    # -- commands -----------------------------------------------------------------------------------
    def _commands(self) -> None:
        c = commands.c
        kinds = [CommandKind.HALT.value, CommandKind.RESUME.value]
        with self.engine.connect() as conn:
            pending = conn.execute(
                select(c.id, c.kind, c.actor, c.reason, c.created_at)
                .where(c.status == "pending", c.kind.in_(kinds))
                .order_by(c.id)
            ).all()
        for cmd in pending:
            with self.engine.begin() as conn:
                claimed = conn.execute(
                    update(commands)
                    .where(c.id == cmd.id, c.status == "pending")
                    .values(status="done", done_at=utcnow_iso())
                ).rowcount
            if not claimed:
                continue
            why = f" ({cmd.reason})" if cmd.reason else ""
            if cmd.kind == CommandKind.HALT.value:
                title = f"Trading halted by {cmd.actor}"
                body = (
                    f"New positions halted at {cmd.created_at}{why}; closing and rolling are still "
                    "allowed. Resume on the dashboard."
                )
                self.alert("critical", "risk", title, body, dedup_key=f"command:{cmd.id}")
            else:
                title = f"Trading resumed by {cmd.actor}"
                body = f"New positions allowed again since {cmd.created_at}{why}."
                self.alert("warning", "risk", title, body, dedup_key=f"command:{cmd.id}")
            self.log.warning("%s (command %d)", title, cmd.id)

    # -- portfolio limits -----------------------------------------------------------------------------
    def _portfolio(self, account: dict[str, Any], items: list[Any]) -> None:
        rules = self.strategy.risk
        nlv = account.get("net_liquidation")
        if not nlv or nlv <= 0:
            return
        excess = account.get("excess_liquidity")
        if excess is not None:
            cushion = excess / nlv
            self._limit(
                "margin-cushion",
                cushion < rules.min_margin_cushion,
                f"Margin cushion {cushion * 100:.1f} % below {rules.min_margin_cushion * 100:.0f} %",
                f"excess liquidity ${excess:,.2f} ÷ net liquidation ${nlv:,.2f} = {cushion * 100:.1f} % "
                f"< min_margin_cushion {rules.min_margin_cushion * 100:.0f} %: new positions are refused",
            )
        collateral = csp_collateral(items)
        limit = rules.max_csp_collateral_fraction * nlv
        self._limit(
            "csp-collateral",
            collateral > limit,
            f"Short-put collateral {collateral / nlv * 100:.1f} % of net liquidation",
            f"short puts tie up ${collateral:,.2f} (strike × multiplier × contracts) > "
            f"{rules.max_csp_collateral_fraction * 100:.0f} % of net liquidation ${nlv:,.2f} = "
            f"${limit:,.2f}: new puts are refused",
        )

    def _limit(self, key: str, beyond: bool, title: str, body: str) -> None:
        """Alert (warning, category risk) when ``key`` goes beyond its limit; re-armed once it is back."""
        if not beyond:
            if key in self._crossed:
                self.log.info("risk: %s back within its limit", key)
            self._crossed.discard(key)
            return
        if key in self._crossed:
            return
        self._crossed.add(key)
        self.log.warning("risk: %s — %s", title, body)
        self.alert("warning", "risk", title, body, dedup_key=f"risk:{key}")
