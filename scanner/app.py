"""The scanner: on the market calendar (:mod:`scanner.schedule`: ``first_scan_after_open_minutes`` after
the open, then every ``scan_interval_seconds`` in regular hours, one preview scan outside them, and at once
on a dashboard ``scan_now`` command) screens each symbol of the universe for cash-secured
puts, and every symbol whose shares are held (in the universe or not) for covered calls, by the entry
rules; ranks all candidates of the scan together and writes them as opportunities with every number that
decided them. A symbol holding at least 100 shares gets no new puts (the wheel sells calls on it), and a put
whose collateral the per-symbol risk limit cannot take is not offered (:mod:`scanner.sizing`); the scan's
detail says so. An unknown symbol (TWS error 200) is logged and skipped; the scan goes on. A running scan
writes its progress ("symbol k of n: SYM") to ``scans.progress``; each symbol and right gets a
``scan_symbols`` row (:class:`scanner.symbolscan.SymbolScan`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update

from scanner.chain import ChainRead, Pacing, read_options
from scanner.earnings import EarningsCalendar
from scanner.fanout import for_each
from scanner.history import BarCache, HistoryReader
from scanner.historyrules import apply_history_rules
from scanner.holdings import Holding
from scanner.schedule import ScanCall, Trigger, due_scan, scan_now_call
from scanner.screen import Screened, rank_candidates, screen_call, screen_put
from scanner.sizing import mark_unaffordable
from scanner.store import opportunity_row, read_holdings
from scanner.tally import ScanTally
from shared.db import utcnow_iso
from shared.marketcal import XnysSessions
from shared.riskdata import account_figures, exposure
from shared.runtime import Component
from shared.schema import commands, opportunities, scan_symbols, scans
from shared.strategy import EntryRules
from shared.trade import CommandKind, Right

EXCHANGE_TZ = ZoneInfo("America/New_York")
#: Seconds between two looks at the calendar and the ``scan_now`` commands.
TICK_SECONDS = 3.0
#: Seconds before a scheduled scan is tried again after one that failed or was cut short.
RETRY_SECONDS = 60.0


class Scanner(Component):
    """Option-chain scanner (client ids 11000-11999)."""

    name = "scanner"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pacing = Pacing(self.conn.lines, self.conn.historical, {})
        self._guess_day: date | None = None
        self.sessions = XnysSessions()
        self._started = False  # the first look (a missing scan then is a ``start`` one) has been taken
        self._last_attempt: float | None = None  # time.monotonic() when this process last started a scan
        self._progress: tuple[int, int] = (0, 0)  # symbols done and in all, of the running scan
        self.history = HistoryReader(
            BarCache(self.engine, self.conn.historical, self.strategy.scan.history_days),
            EarningsCalendar(self.engine, use_yfinance=self.settings.EARNINGS_YFINANCE),
        )

    def schedule(self) -> None:
        """Look every :data:`TICK_SECONDS` at the ``scan_now`` commands and the calendar; scan when due."""
        self._requeue_claimed()
        self.add_job(self.tick, TICK_SECONDS, "scan")

    def _requeue_claimed(self) -> None:
        """``scan_now`` commands a stopped scanner had claimed (``running``) wait again (``pending``)."""
        c = commands.c
        with self.engine.begin() as conn:
            conn.execute(
                update(commands)
                .where(c.kind == CommandKind.SCAN_NOW.value, c.status == "running")
                .values(status="pending")
            )

    def _claim_scan_now(self) -> list[int]:
        """Claim every pending ``scan_now`` command at once (``pending`` → ``running``, atomic: one
        ``UPDATE … WHERE status = 'pending'``); their ids."""
        c = commands.c
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(commands)
                .where(c.kind == CommandKind.SCAN_NOW.value, c.status == "pending")
                .values(status="running")
                .returning(c.id)
            ).scalars()
            return sorted(claimed)

    def _finish_scan_now(self, ids: list[int]) -> None:
        c = commands.c
        with self.engine.begin() as conn:
            conn.execute(update(commands).where(c.id.in_(ids)).values(status="done", done_at=utcnow_iso()))

    def _last_scan(self, now: datetime) -> datetime | None:
        """When the newest completed scan started, on TWS's clock (``started_at`` is this machine's)."""
        with self.engine.connect() as conn:
            started = conn.execute(
                select(scans.c.started_at)
                .where(scans.c.status == "done")
                .order_by(scans.c.id.desc())
                .limit(1)
            ).scalar()
        if started is None:
            return None
        offset = now - datetime.now(UTC)
        return datetime.fromisoformat(str(started).replace("Z", "+00:00")) + offset

    async def tick(self) -> None:
        """Run a claimed ``scan_now`` at once, else the scan the calendar says is due (:func:`due_scan`)."""
        if not self.ib.isConnected():
            return
        try:
            async with asyncio.timeout(10.0):
                now = await self.conn.current_time()
        except (TimeoutError, ConnectionError) as err:
            self.log.warning("scan schedule: TWS's clock unavailable (%s)", err)
            return
        session = await self.sessions.session_at_async(now)
        always = self.settings.MARKET_HOURS == "always"
        claimed = self._claim_scan_now()
        if claimed:
            self.log.info("scan now: command(s) %s claimed", ", ".join(map(str, claimed)))
            self._started = True
            try:
                await self.scan(scan_now_call(session, always))
            finally:
                self._finish_scan_now(claimed)
            return
        since = time.monotonic() - self._last_attempt if self._last_attempt is not None else None
        if since is not None and since < min(RETRY_SECONDS, self.strategy.schedule.scan_interval_seconds):
            return
        call = due_scan(
            now,
            session,
            None if session is not None or always else self.sessions.previous_close(now),
            always_open=always,
            started=self._started,
            last_scan=self._last_scan(now),
            seconds_since_scan=since,
            interval_seconds=self.strategy.schedule.scan_interval_seconds,
            rules=self.strategy.scan,
        )
        self._started = True
        if call is not None:
            await self.scan(call)

    async def _today(self) -> date:
        """Today's date at the exchange, by TWS's clock (the simulator's clock in a demo)."""
        now = await self.conn.current_time()
        return now.astimezone(EXCHANGE_TZ).date()

    def _end_scan(self, scan_id: int, status: str, detail: str) -> None:
        """Close a scan that produced no opportunities (``failed`` or ``cancelled``)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(scans)
                .where(scans.c.id == scan_id)
                .values(status=status, finished_at=utcnow_iso(), detail=detail[:2000], progress="")
            )

    async def _history_rules(
        self,
        symbol: str,
        right: Right,
        rules: EntryRules,
        today: date,
        screened: list[Screened],
        tally: ScanTally,
    ) -> list[Screened]:
        """Apply the rules that need history (IV rank, IV/HV, earnings, technicals) to one symbol's
        screened contracts; a failure to read the history skips them with a note, never fails the scan."""
        key = (symbol, right)
        try:
            hist = await self.history.for_symbol(self.ib, symbol, rules, today)
        except (ConnectionError, TimeoutError):
            raise
        except Exception as err:
            self.log.exception("%s: history rules skipped", symbol)
            tally.history_notes[key] = [f"history rules skipped ({type(err).__name__}: {err})"]
            tally.notes.append(f"{symbol}: history rules skipped ({type(err).__name__})")
            return screened
        out, notes = apply_history_rules(screened, rules, hist)
        tally.history[key] = hist
        tally.history_notes[key] = notes
        tally.notes.extend(f"{symbol}: {n}" for n in notes)
        return out

    def _step(self, scan_id: int, symbol: str) -> None:
        """Write and log the running scan's progress: ``symbol k of n: SYM``."""
        done, total = self._progress
        self._progress = (done + 1, total)
        text = f"symbol {done + 1} of {total}: {symbol}"
        self.log.info("scan %d: %s", scan_id, text)
        with self.engine.begin() as conn:
            conn.execute(update(scans).where(scans.c.id == scan_id).values(progress=text[:64]))

    async def _scan_puts(
        self, scan_id: int, today: date, holdings: dict[str, Holding], tally: ScanTally
    ) -> None:
        """Puts of the universe's symbols, except those holding at least one lot of shares
        (``scan.concurrent_symbols`` at once; each symbol gathers into its own tally, merged in the
        universe's order)."""
        symbols = self.strategy.universe.symbols
        parts = [ScanTally() for _ in symbols]

        async def one(i: int) -> None:
            if not self.stop_event.is_set():
                await self._put_symbol(scan_id, symbols[i], today, holdings.get(symbols[i]), parts[i])

        await for_each(range(len(symbols)), self.strategy.scan.concurrent_symbols, one)
        for part in parts:
            tally.merge(part)

    async def _put_symbol(
        self, scan_id: int, symbol: str, today: date, held: Holding | None, tally: ScanTally
    ) -> None:
        """Read and screen one symbol's puts into ``tally``."""
        self._step(scan_id, symbol)
        if held is not None and held.blocks_puts:
            tally.skip(symbol, Right.PUT, f"{held.shares:g} shares held, no new puts (calls instead)")
            return
        rules = self.strategy.put_rules(symbol)
        scan = self.strategy.scan
        read = await read_options(self.ib, symbol, Right.PUT, rules, today, self.pacing, scan=scan)
        if read is None:
            self.log.warning("%s: unknown symbol (IB 200: no security definition) — skipped", symbol)
        screened = [screen_put(q, rules, today) for q in read.quotes] if read else []
        await self._gather(symbol, Right.PUT, rules, today, read, screened, tally)

    async def _gather(
        self,
        symbol: str,
        right: Right,
        rules: EntryRules,
        today: date,
        read: ChainRead | None,
        screened: list[Screened],
        tally: ScanTally,
    ) -> None:
        """Count one symbol's chain read into ``tally`` (``None``: unknown to TWS) and add its screened
        contracts after the rules that need history."""
        tally.count(symbol, right, read)
        if read is None:
            return
        tally.rules[(symbol, right)] = rules
        tally.reads[(symbol, right)] = read
        if screened:
            screened = await self._history_rules(symbol, right, rules, today, screened, tally)
        tally.screened.extend(screened)

    async def _scan_calls(
        self, scan_id: int, today: date, holdings: dict[str, Holding], tally: ScanTally
    ) -> None:
        """Covered calls of every symbol with at least one uncovered lot of shares (concurrently, as
        :meth:`_scan_puts`)."""
        held = list(holdings.items())
        parts = [ScanTally() for _ in held]

        async def one(i: int) -> None:
            if not self.stop_event.is_set():
                await self._call_symbol(scan_id, *held[i], today, parts[i])

        await for_each(range(len(held)), self.strategy.scan.concurrent_symbols, one)
        for part in parts:
            tally.merge(part)

    async def _call_symbol(
        self, scan_id: int, symbol: str, held: Holding, today: date, tally: ScanTally
    ) -> None:
        """Read and screen the covered calls of one symbol's uncovered lots into ``tally``."""
        lots = held.uncovered_lots
        if lots >= 1 and held.cost_basis is not None:
            self._step(scan_id, symbol)
        if lots < 1:
            if held.blocks_puts:
                tally.skip(
                    symbol,
                    Right.CALL,
                    f"{held.shares:g} shares, all covered ({held.short_calls:g} short calls, "
                    f"{held.pending_calls:g} in active sell_call intents)",
                )
            return
        if held.cost_basis is None:
            self.log.warning("%s: %g shares held but no cost basis known — no calls", symbol, held.shares)
            tally.skip(symbol, Right.CALL, "no cost basis (no open cycle, no average cost), no calls")
            return
        rules = self.strategy.call_rules(symbol)
        floor = held.cost_basis if rules.strike_at_or_above_cost_basis else None
        self.log.info(
            "%s: %g shares, %d uncovered lot(s), cost basis %.2f (%s)",
            symbol,
            held.shares,
            lots,
            held.cost_basis,
            held.cost_basis_source,
        )
        read = await read_options(
            self.ib, symbol, Right.CALL, rules, today, self.pacing, min_strike=floor, scan=self.strategy.scan
        )
        if read is None:
            self.log.warning("%s: shares held but unknown to TWS (IB 200) — skipped", symbol)
        basis = held.cost_basis
        screened = [screen_call(q, rules, today, basis) for q in read.quotes] if read else []
        await self._gather(symbol, Right.CALL, rules, today, read, screened, tally)

    def _mark_unaffordable(self, tally: ScanTally) -> None:
        """Fail the puts whose collateral the per-symbol risk limit cannot take (:mod:`scanner.sizing`)."""
        with self.engine.connect() as conn:
            nlv, held = account_figures(conn).net_liquidation, exposure(conn)
        tally.screened, notes = mark_unaffordable(
            tally.screened, nlv, held, self.strategy.risk.max_symbol_fraction
        )
        tally.notes.extend(notes)

    async def scan(self, call: ScanCall | None = None) -> None:
        """Screen the universe's puts and the held shares' calls once and store the ranked opportunities
        (``call``: why, and whether a preview; a scheduled regular-hours scan when not given)."""
        call = call or ScanCall(Trigger.SCHEDULE, preview=False)
        if not self.ib.isConnected():
            return
        self._last_attempt = time.monotonic()
        self.log.info("scan (%s%s) starting", call.trigger.value, ", preview" if call.preview else "")
        with self.engine.begin() as conn:
            scan_id = conn.execute(
                insert(scans)
                .values(
                    started_at=utcnow_iso(),
                    status="running",
                    symbols=0,
                    contracts_checked=0,
                    candidates=0,
                    detail="",
                    preview=call.preview,
                    trigger=call.trigger.value,
                    progress="starting",
                )
                .returning(scans.c.id)
            ).scalar_one()
        tally = ScanTally()
        try:
            today = await self._today()
            if today != self._guess_day:  # volatility guesses are read once per symbol and day
                self.pacing.iv_guesses.clear()
                self._guess_day = today
            holdings = read_holdings(self.engine)
            calls = sum(1 for h in holdings.values() if h.uncovered_lots >= 1 and h.cost_basis is not None)
            self._progress = (0, len(self.strategy.universe.symbols) + calls)
            await self._scan_puts(scan_id, today, holdings, tally)
            await self._scan_calls(scan_id, today, holdings, tally)
            self._mark_unaffordable(tally)
            ranked = rank_candidates(tally.screened, lambda s: tally.rules[(s.quote.symbol, s.quote.right)])
        except asyncio.CancelledError:  # the process is stopping mid-scan
            self._end_scan(scan_id, "cancelled", "stopped while scanning")
            raise
        except Exception as err:
            if isinstance(err, ConnectionError | TimeoutError):  # the connection manager reconnects
                self.log.warning("scan %d interrupted: the connection to TWS was lost (%s)", scan_id, err)
            else:
                self.log.exception("scan %d failed", scan_id)
            self._end_scan(scan_id, "failed", f"{type(err).__name__}: {err}")
            return
        ts = utcnow_iso()
        with self.engine.begin() as conn:
            for i, s in enumerate(ranked, start=1):
                held = holdings.get(s.quote.symbol)
                lots = held.uncovered_lots if held is not None else None
                hist = tally.history.get((s.quote.symbol, s.quote.right))
                row = opportunity_row(s, scan_id, i, ts, lots, hist)
                conn.execute(insert(opportunities).values(**row))
            for symbol_row in tally.symbol_rows(scan_id):
                conn.execute(insert(scan_symbols).values(**symbol_row))
            conn.execute(
                update(scans)
                .where(scans.c.id == scan_id)
                .values(
                    status="done",
                    finished_at=ts,
                    symbols=len(tally.symbols),
                    contracts_checked=tally.checked,
                    candidates=len(ranked),
                    detail=tally.detail(),
                    progress="",
                )
            )
        calls = sum(1 for s in ranked if s.quote.right is Right.CALL)
        self.log.info(
            "scan %d: %d symbols, %d contracts checked, %d opportunities (%d puts, %d covered calls)",
            scan_id,
            len(tally.symbols),
            tally.checked,
            len(ranked),
            len(ranked) - calls,
            calls,
        )
        self.heartbeat.note(f"last scan {ts[:19]}Z: {len(ranked)} opportunities")
