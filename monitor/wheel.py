"""The monitor's wheel-cycle ledger loop: store every execution TWS reports, book what it does not
(lapses, unreported assignments, shares held before), recompute the cycles and alert on each change of
stage. The figures come from :func:`shared.ledger.build_ledger`; this module only gathers and stores.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from datetime import datetime

from ib_async import Fill, PortfolioItem
from sqlalchemy import Engine, select

from shared.ledger import LedgerError, LedgerState, build_ledger
from shared.ledgerbook import HeldPosition, missing_executions
from shared.ledgerstore import (
    import_fills,
    load_executions,
    record_commission,
    record_executions,
    write_cycles,
)
from shared.schema import cycles
from shared.trade import CycleStage, Execution, ExecutionSource, LegKind, Right, Side

#: Seconds a difference between the ledger and TWS's positions must last before it is logged.
WARN_AFTER_SECONDS = 60.0
#: alert(severity, category, title, body, dedup_key)
AlertFn = Callable[[str, str, str, str, str], None]


def execution_from_fill(fill: Fill) -> Execution | None:
    """An :class:`Execution` from an ib_async ``Fill`` of a stock or option; ``None`` for a combo's
    (BAG) summary execution, whose legs are reported one by one, and for other security types."""
    c, e = fill.contract, fill.execution
    if c.secType not in ("STK", "OPT"):
        return None
    report = fill.commissionReport
    commission = report.commission if report is not None and report.execId == e.execId else None
    if commission is not None and (not math.isfinite(commission) or abs(commission) > 1e9):
        commission = None
    right = (c.right or "")[:1] or None
    return Execution(
        exec_id=e.execId,
        source=ExecutionSource.TWS,
        time=e.time.isoformat(),
        symbol=c.symbol,
        sec_type=c.secType,
        con_id=c.conId,
        local_symbol=c.localSymbol or c.symbol,
        side=Side(e.side),
        quantity=float(e.shares),
        price=float(e.price),
        multiplier=int(float(c.multiplier)) if c.multiplier else (100 if c.secType == "OPT" else 1),
        expiry=c.lastTradeDateOrContractMonth or None,
        strike=c.strike if c.secType == "OPT" else None,
        right=Right(right) if right and c.secType == "OPT" else None,
        commission=commission,
        order_ref=e.orderRef or "",
        order_id=int(e.orderId or 0),
        perm_id=int(e.permId or 0),
    )


def held_positions(items: Iterable[PortfolioItem]) -> list[HeldPosition]:
    """TWS's positions as the ledger compares them (stock average cost in dollars per share)."""
    return [
        HeldPosition(
            symbol=i.contract.symbol,
            sec_type=i.contract.secType,
            con_id=i.contract.conId,
            quantity=float(i.position),
            avg_cost=float(i.averageCost) if i.contract.secType == "STK" else None,
        )
        for i in items
        if i.position != 0
    ]


class WheelLedger:
    """Keeps the ``executions``, ``cycles`` and ``cycle_legs`` tables up to date for the monitor."""

    def __init__(self, engine: Engine, log: logging.Logger, alert: AlertFn) -> None:
        self.engine = engine
        self.log = log
        self.alert = alert
        self._warned: set[str] = set()
        self._first_seen: dict[str, datetime] = {}
        self._error: str | None = None

    def on_commission(self, exec_id: str, commission: float) -> None:
        """IB's commission report for an execution already stored (dollars)."""
        if math.isfinite(commission) and abs(commission) < 1e9:
            with self.engine.begin() as conn:
                record_commission(conn, exec_id, commission)

    def update(self, fills: list[Fill], items: list[PortfolioItem], account: str, now: datetime) -> None:
        """Store ``fills`` (the day's executions from TWS), book what TWS did not report, rebuild the cycles
        as of ``now`` (TWS's clock) and alert on every change of stage."""
        execs = [x for f in fills if (x := execution_from_fill(f)) is not None]
        record_executions(self.engine, execs, account)
        import_fills(self.engine)
        try:
            state = self._build(now)
            rec = missing_executions(state, held_positions(items), now)
            self._warn(rec.warnings, now)
            if rec.executions:
                for e in rec.executions:
                    self.log.info(
                        "ledger: booked %s %s %g %s @ %.2f (%s)",
                        e.source.value,
                        e.side.value,
                        e.quantity,
                        e.local_symbol,
                        e.price,
                        e.exec_id,
                    )
                record_executions(self.engine, rec.executions, account)
                state = self._build(now)
        except LedgerError as err:
            if str(err) != self._error:
                self._error = str(err)
                self.log.error("wheel ledger not updated: %s", err)
                self.alert("warning", "ledger", "Wheel ledger cannot be updated", str(err), "ledger-error")
            return
        self._error = None
        before = self._stages()
        write_cycles(self.engine, state, now)
        self._announce(before, state)

    def _warn(self, warnings: list[str], now: datetime) -> None:
        """Log each difference once, and only when it lasted :data:`WARN_AFTER_SECONDS` (TWS's position
        report may trail an execution by a moment: that is not a difference worth a warning)."""
        seen = set(warnings)
        self._first_seen = {w: t for w, t in self._first_seen.items() if w in seen}
        for warning in warnings:
            first = self._first_seen.setdefault(warning, now)
            if warning not in self._warned and (now - first).total_seconds() >= WARN_AFTER_SECONDS:
                self._warned.add(warning)
                self.log.warning(warning)

    def _build(self, now: datetime) -> LedgerState:
        with self.engine.connect() as conn:
            return build_ledger(load_executions(conn), now)

    def _stages(self) -> dict[tuple[str, str], str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(cycles.c.symbol, cycles.c.started_at, cycles.c.stage)).all()
        return {(r.symbol, r.started_at): r.stage for r in rows}

    def _announce(self, before: dict[tuple[str, str], str], state: LedgerState) -> None:
        for c in state.cycles:
            old = before.get((c.symbol, c.started_at))
            if old is None or old == c.stage.value:
                continue
            key = f"cycle:{c.symbol}:{c.started_at}:{c.stage.value}"
            kinds = {leg.kind for leg in c.legs}
            if old == CycleStage.PUT.value and c.stage in (CycleStage.SHARES, CycleStage.SHARES_CALL):
                basis = c.adjusted_cost_basis or 0.0
                self.alert(
                    "warning",
                    "assignment",
                    f"{c.symbol} put assigned: {c.shares:g} shares at ${c.assignment_price or 0:.2f}/share",
                    f"Adjusted cost basis ${basis:.2f} per share after ${c.premiums:,.2f} of net premiums "
                    f"and ${c.commissions:,.2f} of commissions. Covered calls are screened at or above it.",
                    key,
                )
            elif c.stage is CycleStage.CLOSED:
                if LegKind.SHARES_CALLED_AWAY in kinds:
                    what = "shares called away"
                elif kinds & {LegKind.SHARES_SOLD}:
                    what = "shares sold"
                elif kinds & {LegKind.PUT_EXPIRED, LegKind.CALL_EXPIRED}:
                    what = "option expired worthless"
                else:
                    what = "position closed"
                ann = f"{c.annualized_return * 100:.1f} %" if c.annualized_return is not None else "n/a"
                self.alert(
                    "warning" if "shares" in what else "info",
                    "wheel",
                    f"{c.symbol} wheel cycle closed ({what}): realized P&L ${c.realized_pnl:,.2f}",
                    f"Premiums ${c.premiums:,.2f}, stock P&L ${c.stock_pnl:,.2f}, commissions "
                    f"${c.commissions:,.2f}; {c.days_open} days; annualized return on "
                    f"${c.collateral:,.0f} collateral {ann}.",
                    key,
                )
