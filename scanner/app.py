"""The scanner: every ``scan_interval_seconds`` screens each symbol of the universe for cash-secured
puts by the entry rules, ranks the candidates and writes them as opportunities with every number that
decided them. An unknown symbol (TWS error 200) is logged and skipped; the scan goes on.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, update

from scanner.chain import Pacing, read_puts
from scanner.screen import Screened, rank_puts, screen_put
from shared.db import utcnow_iso
from shared.runtime import Component
from shared.schema import opportunities, scans

EXCHANGE_TZ = ZoneInfo("America/New_York")


def opportunity_row(s: Screened, scan_id: int, rank: int, ts: str) -> dict[str, Any]:
    """An ``opportunities`` row from a passed :class:`Screened` put (units as in the schema)."""
    q = s.quote
    assert s.mid is not None and s.credit is not None and s.annualized_return is not None
    assert s.prob_otm is not None and q.delta is not None and q.bid is not None and q.ask is not None
    return {
        "scan_id": scan_id,
        "strategy": "CSP",
        "symbol": q.symbol,
        "con_id": q.con_id,
        "local_symbol": q.local_symbol,
        "expiry": q.expiry,
        "strike": q.strike,
        "right": "P",
        "dte": s.dte,
        "underlying_price": q.underlying_price,
        "bid": q.bid,
        "ask": q.ask,
        "mid": s.mid,
        "spread_pct": s.spread_pct if s.spread_pct is not None else 0.0,
        "delta": q.delta,
        "iv": q.iv,
        "open_interest": q.open_interest or 0,
        "credit": s.credit,
        "collateral": s.collateral,
        "annualized_return": s.annualized_return,
        "prob_otm": s.prob_otm,
        "liquidity_factor": s.liquidity_factor,
        "score": s.score,
        "rank": rank,
        "created_at": ts,
    }


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

    async def scan(self) -> None:
        """Screen the whole universe once and store the ranked opportunities."""
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
        screened: list[Screened] = []
        notes: list[str] = []
        checked = symbols = 0
        caps: dict[str, int] = {}
        try:
            today = await self._today()
            if today != self._guess_day:  # volatility guesses are read once per symbol and day
                self.pacing.iv_guesses.clear()
                self._guess_day = today
            for symbol in self.strategy.universe.symbols:
                if self.stop_event.is_set():
                    break
                rules = self.strategy.put_rules(symbol)
                caps[symbol] = rules.max_candidates_per_symbol
                read = await read_puts(self.ib, symbol, rules, today, self.pacing)
                if read is None:
                    self.log.warning("%s: unknown symbol (IB 200: no security definition) — skipped", symbol)
                    notes.append(f"{symbol}: unknown symbol (IB 200)")
                    continue
                symbols += 1
                checked += read.contracts_checked
                if read.note:
                    notes.append(f"{symbol}: {read.note}")
                screened.extend(screen_put(q, rules, today) for q in read.quotes)
            ranked = rank_puts(screened, self.strategy.puts, cap_by_symbol=caps)
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
                conn.execute(insert(opportunities).values(**opportunity_row(s, scan_id, i, ts)))
            conn.execute(
                update(scans)
                .where(scans.c.id == scan_id)
                .values(
                    status="done",
                    finished_at=ts,
                    symbols=symbols,
                    contracts_checked=checked,
                    candidates=len(ranked),
                    detail="; ".join(notes)[:2000],
                )
            )
        self.log.info(
            "scan %d: %d symbols, %d puts checked, %d opportunities", scan_id, symbols, checked, len(ranked)
        )
        self.heartbeat.note(f"last scan {ts[:19]}Z: {len(ranked)} opportunities")
