"""The scanner: every ``scan_interval_seconds`` screens each symbol of the universe for cash-secured
puts, and every symbol whose shares are held (in the universe or not) for covered calls, by the entry
rules; ranks all candidates of the scan together and writes them as opportunities with every number that
decided them. A symbol holding at least 100 shares gets no new puts (the wheel sells calls on it), and a put
whose collateral the per-symbol risk limit cannot take is not offered (:mod:`scanner.sizing`); the scan's
detail says so. An unknown symbol (TWS error 200) is logged and skipped; the scan goes on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, update

from scanner.chain import ChainRead, Pacing, read_options
from scanner.holdings import Holding
from scanner.screen import Screened, rank_candidates, screen_call, screen_put
from scanner.sizing import mark_unaffordable
from scanner.store import opportunity_row, read_holdings
from shared.db import utcnow_iso
from shared.riskdata import account_figures, exposure
from shared.runtime import Component
from shared.schema import opportunities, scans
from shared.strategy import EntryRules
from shared.trade import Right

EXCHANGE_TZ = ZoneInfo("America/New_York")


@dataclass
class _Tally:
    """What one scan has gathered so far: candidates with the rules that screened them, notes for the
    scan's detail, the symbols read and the contracts checked."""

    screened: list[Screened] = field(default_factory=list)
    rules: dict[tuple[str, Right], EntryRules] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)
    checked: int = 0

    def count(self, symbol: str, read: ChainRead | None) -> None:
        """Count a chain read (``None``: TWS does not know the symbol, IB 200) and keep its note."""
        if read is None:
            self.notes.append(f"{symbol}: unknown symbol (IB 200)")
            return
        self.symbols.add(symbol)
        self.checked += read.contracts_checked
        if read.note:
            self.notes.append(f"{symbol}: {read.note}")


class Scanner(Component):
    """Option-chain scanner (client ids 11000-11999)."""

    name = "scanner"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pacing = Pacing(self.conn.lines, self.conn.historical, {})
        self._guess_day: date | None = None

    def schedule(self) -> None:
        """Scan now, then every ``scan_interval_seconds``."""
        self.add_job(self.scan, self.strategy.schedule.scan_interval_seconds, "scan")

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
                .values(status=status, finished_at=utcnow_iso(), detail=detail[:2000])
            )

    async def _scan_puts(self, today: date, holdings: dict[str, Holding], tally: _Tally) -> None:
        """Puts of the universe's symbols, except those holding at least one lot of shares."""
        for symbol in self.strategy.universe.symbols:
            if self.stop_event.is_set():
                return
            held = holdings.get(symbol)
            if held is not None and held.blocks_puts:
                tally.notes.append(f"{symbol}: {held.shares:g} shares held, no new puts (calls instead)")
                continue
            rules = self.strategy.put_rules(symbol)
            read = await read_options(self.ib, symbol, Right.PUT, rules, today, self.pacing)
            tally.count(symbol, read)
            if read is None:
                self.log.warning("%s: unknown symbol (IB 200: no security definition) — skipped", symbol)
                continue
            tally.rules[(symbol, Right.PUT)] = rules
            tally.screened.extend(screen_put(q, rules, today) for q in read.quotes)

    async def _scan_calls(self, today: date, holdings: dict[str, Holding], tally: _Tally) -> None:
        """Covered calls of every symbol with at least one uncovered lot of shares."""
        for symbol, held in holdings.items():
            if self.stop_event.is_set():
                return
            lots = held.uncovered_lots
            if lots < 1:
                if held.blocks_puts:
                    tally.notes.append(
                        f"{symbol}: {held.shares:g} shares, all covered ({held.short_calls:g} short calls, "
                        f"{held.pending_calls:g} in active sell_call intents)"
                    )
                continue
            if held.cost_basis is None:
                self.log.warning("%s: %g shares held but no cost basis known — no calls", symbol, held.shares)
                tally.notes.append(f"{symbol}: no cost basis (no open cycle, no average cost), no calls")
                continue
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
                self.ib, symbol, Right.CALL, rules, today, self.pacing, min_strike=floor
            )
            tally.count(symbol, read)
            if read is None:
                self.log.warning("%s: shares held but unknown to TWS (IB 200) — skipped", symbol)
                continue
            tally.rules[(symbol, Right.CALL)] = rules
            tally.screened.extend(screen_call(q, rules, today, held.cost_basis) for q in read.quotes)

    def _mark_unaffordable(self, tally: _Tally) -> None:
        """Fail the puts whose collateral the per-symbol risk limit cannot take (:mod:`scanner.sizing`)."""
        with self.engine.connect() as conn:
            nlv, held = account_figures(conn).net_liquidation, exposure(conn)
        tally.screened, notes = mark_unaffordable(
            tally.screened, nlv, held, self.strategy.risk.max_symbol_fraction
        )
        tally.notes.extend(notes)

    async def scan(self) -> None:
        """Screen the universe's puts and the held shares' calls once and store the ranked opportunities."""
        if not self.ib.isConnected():
            return
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
                )
                .returning(scans.c.id)
            ).scalar_one()
        tally = _Tally()
        try:
            today = await self._today()
            if today != self._guess_day:  # volatility guesses are read once per symbol and day
                self.pacing.iv_guesses.clear()
                self._guess_day = today
            holdings = read_holdings(self.engine)
            await self._scan_puts(today, holdings, tally)
            await self._scan_calls(today, holdings, tally)
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
                conn.execute(insert(opportunities).values(**opportunity_row(s, scan_id, i, ts, lots)))
            conn.execute(
                update(scans)
                .where(scans.c.id == scan_id)
                .values(
                    status="done",
                    finished_at=ts,
                    symbols=len(tally.symbols),
                    contracts_checked=tally.checked,
                    candidates=len(ranked),
                    detail="; ".join(tally.notes)[:2000],
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
