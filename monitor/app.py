"""The monitor: creates/migrates the schema, then every ``monitor_interval_seconds`` (and at once on a
portfolio update or an execution) records the account summary (net liquidation, cash, buying power,
excess liquidity, P&L), the positions with market value, unrealized P&L and delta (model greeks streamed
for every option held), and the wheel-cycle ledger (:mod:`monitor.wheel`); then applies the management
rules to every short option held (:mod:`monitor.manage`, roll targets from :mod:`monitor.rolls`) and keeps
the risk state, the halt / resume commands and the portfolio risk alerts (:mod:`monitor.risk`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from ib_async import IB, Contract, Ticker
from sqlalchemy import delete, insert

from monitor.manage import Manager
from monitor.risk import RiskMonitor
from monitor.rolls import RollFinder
from monitor.snapshot import account_row, model_delta, position_row, underlying_price
from monitor.wheel import WheelLedger
from shared.backup import STRATEGY_CHECK_SECONDS, backup_now, backup_strategy
from shared.db import upsert, utcnow_iso
from shared.ibcodes import tip
from shared.ibwait import wait_until
from shared.migrate import upgrade
from shared.pacing import LineBudgetExceeded
from shared.runtime import Component
from shared.schema import account_snapshots, positions

#: Seconds a refresh waits for the greeks of a newly held option before writing without its delta.
GREEKS_WAIT_SECONDS = 3.0


class Monitor(Component):
    """Account and position monitor (client ids 10000-10999)."""

    name = "monitor"
    waits_for_monitor = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held: dict[int, Contract] = {}  # conId → held option whose greeks stream (conn.subscribe)
        self._hooked = False
        self._over_budget: set[int] = set()  # held options left without greeks for lack of lines
        self.ledger = WheelLedger(self.engine, self.log, self.alert)
        self.manager = Manager(
            self.engine, self.strategy, self.log, self.alert, RollFinder(self.conn, self.log)
        )
        self.risk = RiskMonitor(self.engine, self.strategy, self.log, self.alert)
        self._refreshing = False
        self._refresh_again = False

    def prepare_database(self) -> None:
        """Create or upgrade the schema with Alembic, then beat so the other processes may start."""
        upgrade(self.engine)
        self.log.info(
            "database schema is up to date (%s)", self.engine.url.render_as_string(hide_password=True)
        )
        self.heartbeat.set("starting", "schema ready; connecting to TWS")
        # backups run whether or not TWS is reachable; PostgreSQL users back up with pg_dump
        if self.settings.BACKUP_INTERVAL_MINUTES > 0 and self.engine.dialect.name == "sqlite":
            self.add_job(self.backup, self.settings.BACKUP_INTERVAL_MINUTES * 60, "backup", first_now=False)
        if self.settings.BACKUP_INTERVAL_MINUTES > 0:  # the strategy file: at start, then on every change
            self.add_job(self.backup_strategy, STRATEGY_CHECK_SECONDS, "strategy-backup")

    async def backup(self) -> None:
        """Online backup of the database into data/backups/, keeping BACKUP_KEEP (:mod:`shared.backup`)."""
        try:
            path, removed = await asyncio.to_thread(
                backup_now, self.settings.DATABASE_URL, self.settings.BACKUP_KEEP
            )
        except Exception as err:
            self.log.error("database backup failed: %s", err)
            self.alert("warning", "backup", "Database backup failed", str(err), dedup_key="backup-failed")
            return
        self.log.info("database backed up to %s (%d old backup(s) removed)", path, len(removed))

    async def backup_strategy(self) -> None:
        """Copy the strategy file into data/backups/ when its content changed (:mod:`shared.backup`)."""
        source = self.settings.THETAWHEEL_CONFIG
        try:
            path, removed = await asyncio.to_thread(
                backup_strategy, source, self.settings.DATABASE_URL, self.settings.BACKUP_KEEP
            )
        except Exception as err:
            self.log.error("strategy file backup failed: %s", err)
            self.alert(
                "warning",
                "backup",
                "Strategy file backup failed",
                str(err),
                dedup_key="strategy-backup-failed",
            )
            return
        if path is not None:
            self.log.info(
                "strategy file %s backed up to %s (%d old copies removed)", source, path, len(removed)
            )

    async def on_connected(self, ib: IB) -> None:
        """Hook portfolio updates once (the connection manager restores the greeks streams itself)."""
        if not self._hooked:
            ib.updatePortfolioEvent += self._portfolio_changed
            ib.execDetailsEvent += lambda _trade, _fill: self._portfolio_changed(None)
            ib.commissionReportEvent += lambda _t, _f, report: self.ledger.on_commission(
                report.execId, report.commission
            )
            self._hooked = True

    def _portfolio_changed(self, _item: Any) -> None:
        """TWS reported a portfolio change or an execution: refresh now instead of at the next tick.

        Requests are coalesced: during a refresh they only mark that one more is due when it ends, so a
        burst of fills gives at most one extra refresh (and no "maximum number of running instances")."""
        if self._refreshing:
            self._refresh_again = True
            return
        job = self.scheduler.get_job("refresh")
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))

    def schedule(self) -> None:
        """Snapshot the account every ``monitor_interval_seconds``."""
        self.add_job(self.refresh, self.strategy.schedule.monitor_interval_seconds, "refresh")

    def _sync_subscriptions(self, items: list[Any]) -> list[Ticker]:
        """Stream model greeks for every option held; cancel streams of options no longer held.

        Streams go through the connection manager (:meth:`shared.ibconn.IBConnection.subscribe`), which
        counts them against the monitor's line budget and restores them after 1101 or a reconnect.
        Returns the tickers that were just subscribed."""
        held: dict[int, Contract] = {}
        for item in items:
            c = item.contract
            if c.secType == "OPT" and item.position != 0:
                held[c.conId] = Contract(conId=c.conId, exchange="SMART", secType="OPT")
        for con_id in list(self.held):
            if con_id not in held:
                self.conn.unsubscribe(self.held.pop(con_id))
        new = []
        for con_id, contract in held.items():
            if con_id in self.held:
                continue
            try:
                new.append(self.conn.subscribe(contract))
            except LineBudgetExceeded as err:
                if con_id not in self._over_budget:
                    self.log.warning(
                        "no greeks for option conId %d: %s | IB 101 tip: %s", con_id, err, tip(101)
                    )
                    self._over_budget.add(con_id)
                continue
            self.held[con_id] = contract
            self._over_budget.discard(con_id)
        return new

    async def _await_greeks(self, tickers: list[Ticker], timeout: float = GREEKS_WAIT_SECONDS) -> None:
        """Give fresh subscriptions up to ``timeout`` seconds to deliver model greeks (woken by ib_async's
        ticker events, not a polling loop)."""
        await wait_until(self.ib, lambda: all(t.modelGreeks is not None for t in tickers), timeout)

    async def refresh(self) -> None:
        """Write one account snapshot, replace the positions table with TWS's portfolio and update the
        wheel ledger; run once more at once if TWS reported changes meanwhile."""
        if not self.ib.isConnected():
            return
        self._refreshing = True
        try:
            await self._refresh()
        except (ConnectionError, TimeoutError) as err:  # the connection manager reconnects
            self.log.warning(
                "refresh interrupted by the connection to TWS (%s); the next one catches up", err
            )
        finally:
            self._refreshing = False
        if self._refresh_again:
            self._refresh_again = False
            self._portfolio_changed(None)

    async def _refresh(self) -> None:
        account = self.conn.account
        ts = utcnow_iso()
        items = [i for i in self.ib.portfolio(account) if i.position != 0]
        await self._await_greeks(self._sync_subscriptions(items))
        acct = account_row(self.ib.accountValues(account), account, ts)
        rows = []
        for item in items:
            streamed = self.held.get(item.contract.conId)
            ticker = self.conn.ticker(streamed) if streamed is not None else None
            delta = model_delta(ticker.modelGreeks) if ticker is not None and ticker.modelGreeks else None
            rows.append(position_row(item, delta, ts, underlying_price(ticker, items, item)))
        with self.engine.begin() as conn:
            if acct is not None:
                conn.execute(insert(account_snapshots).values(**acct))
            for row in rows:
                upsert(conn, positions, row, key=("con_id",))
            held = [r["con_id"] for r in rows]
            conn.execute(delete(positions).where(positions.c.con_id.not_in(held)))
        # after the portfolio, so every change seen is explained; ib_async keeps the commission reports on
        # the fills it saw first (ib.fills()), not on the copies a repeated reqExecutions returns
        by_id = {f.execution.execId: f for f in await self.conn.executions()}
        by_id.update({f.execution.execId: f for f in self.ib.fills()})
        tws_now = await self.conn.current_time()
        offset = (tws_now - datetime.now(UTC)).total_seconds()  # measured now, before any slower step
        self.ledger.update(list(by_id.values()), items, account, tws_now)
        await self._manage(items, tws_now, ready=acct is not None)
        self.risk.update(acct, items, tws_now, offset)  # last: risk_state.updated_at marks a finished refresh
        self.heartbeat.note(
            f"net liquidation {acct['net_liquidation']:,.2f}; {len(rows)} positions"
            if acct
            else "no account data yet"
        )

    async def _manage(self, items: list[Any], tws_now: datetime, ready: bool) -> None:
        """The management rules on the short options held (:class:`monitor.manage.Manager`); a failure is
        logged and never stops the refresh (the connection's own errors go to :meth:`refresh`)."""

        def ticker_of(con_id: int) -> Ticker | None:
            streamed = self.held.get(con_id)
            return self.conn.ticker(streamed) if streamed is not None else None

        try:
            await self.manager.run(items, ticker_of, tws_now, ready)
        except (ConnectionError, TimeoutError):
            raise
        except Exception:
            self.log.exception("management rules failed this refresh; the next one tries again")

    async def on_stop(self) -> None:
        """Cancel the greeks streams."""
        for contract in self.held.values():
            self.conn.unsubscribe(contract)
        self.held.clear()
