"""Daily bars for the entry rules that need history, read with ``reqHistoricalData`` and cached in the
``daily_bars`` table; the :class:`~scanner.historyrules.SymbolHistory` of one underlying built from them.

Series (``what``, IB's ``whatToShow``): ``TRADES`` closes ($/share) for the SMA200 and RSI(14),
``OPTION_IMPLIED_VOLATILITY`` (the underlying's 30-day implied vol) for the 52-week IV rank and IV/HV,
``HISTORICAL_VOLATILITY`` (30-day realized vol) for IV/HV; the volatilities are annualized fractions.
A series is read only when an enabled rule needs it, at most once per trading day (US/Eastern) per symbol
and series (``bar_fetches``), and through the scanner's historical pacer (IB 162/322 rules,
:class:`shared.pacing.HistoricalPacer`). The first read asks for ``history_days`` calendar days; later
ones only for the days since the last cached bar. Bars older than ``history_days`` are dropped.

A series TWS does not serve (error 162 "no data", a timeout) is recorded as fetched with 0 bars and asked
for again after an hour: until then the rule it feeds is skipped with a note, the scan goes on.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ib_async import IB, Contract, Stock
from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from scanner.earnings import EarningsCalendar
from scanner.historyrules import SymbolHistory
from scanner.technicals import iv_hv_ratio, iv_rank, rsi_wilder, sma
from shared.db import utcnow_iso
from shared.pacing import HistoricalPacer
from shared.schema import bar_fetches, daily_bars
from shared.strategy import EntryRules

log = logging.getLogger("scanner.history")

TRADES, IV, HV = "TRADES", "OPTION_IMPLIED_VOLATILITY", "HISTORICAL_VOLATILITY"
#: Seconds before a series TWS did not serve (no data, a timeout) is asked for again the same day.
EMPTY_RETRY_SECONDS = 3600.0
#: Seconds to wait for one reqHistoricalData before the series counts as unavailable today.
HISTORICAL_TIMEOUT_SECONDS = 30.0


def needed_series(rules: EntryRules) -> list[str]:
    """The series the enabled rules need (IV and HV for the IV rules, TRADES for the technicals)."""
    out = []
    if rules.min_iv_rank > 0 or rules.min_iv_hv_ratio > 0:
        out += [IV, HV]
    if rules.require_above_sma200 or rules.rsi_filter:
        out.append(TRADES)
    return out


def duration_for(last_cached: date | None, today: date, history_days: int) -> str:
    """IB ``durationStr`` for the bars still missing: ``history_days`` calendar days when nothing is
    cached (in years above 365 days, as TWS requires), else the days since the last cached bar (≥ 2,
    so the last completed session is re-read)."""
    if last_cached is None or (today - last_cached).days >= history_days:
        if history_days > 365:
            return f"{math.ceil(history_days / 365)} Y"
        return f"{history_days} D"
    return f"{max(2, (today - last_cached).days + 1)} D"


@dataclass
class BarCache:
    """Reads and caches daily bars for the scanner (one per process)."""

    engine: Engine
    pacer: HistoricalPacer
    history_days: int = 400

    def fetched_today(self, symbol: str, what: str, day: str) -> bool:
        """True when the series was read on trading day ``day`` — or asked for and not served within the
        last :data:`EMPTY_RETRY_SECONDS` (a timeout or a refusal is retried, but not at every scan)."""
        with self.engine.connect() as conn:
            got = conn.execute(
                select(bar_fetches.c.trading_day, bar_fetches.c.bars, bar_fetches.c.fetched_at).where(
                    bar_fetches.c.symbol == symbol, bar_fetches.c.what == what
                )
            ).first()
        if got is None or got.trading_day != day:
            return False
        if got.bars > 0:
            return True
        asked = datetime.fromisoformat(got.fetched_at)
        asked = asked if asked.tzinfo else asked.replace(tzinfo=UTC)
        return (datetime.now(UTC) - asked).total_seconds() < EMPTY_RETRY_SECONDS

    def closes(self, symbol: str, what: str, today: date) -> list[float]:
        """Cached closes of one series within ``history_days`` of ``today``, oldest first."""
        since = (today - timedelta(days=self.history_days)).isoformat()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(daily_bars.c.close)
                .where(daily_bars.c.symbol == symbol, daily_bars.c.what == what, daily_bars.c.date >= since)
                .order_by(daily_bars.c.date)
            ).all()
        return [float(r.close) for r in rows]

    def _last_date(self, symbol: str, what: str) -> date | None:
        with self.engine.connect() as conn:
            last = conn.execute(
                select(daily_bars.c.date)
                .where(daily_bars.c.symbol == symbol, daily_bars.c.what == what)
                .order_by(daily_bars.c.date.desc())
                .limit(1)
            ).scalar_one_or_none()
        return date.fromisoformat(last) if last else None

    def store(self, symbol: str, what: str, day: str, today: date, bars: list[tuple[date, float]]) -> None:
        """Upsert the bars, drop those older than ``history_days`` and record the day's fetch."""
        now = utcnow_iso()
        with self.engine.begin() as conn:
            if bars:
                stmt = sqlite_insert(daily_bars).values(
                    [{"symbol": symbol, "what": what, "date": d.isoformat(), "close": c} for d, c in bars]
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["symbol", "what", "date"], set_={"close": stmt.excluded.close}
                    )
                )
            conn.execute(
                delete(daily_bars).where(
                    daily_bars.c.symbol == symbol,
                    daily_bars.c.what == what,
                    daily_bars.c.date < (today - timedelta(days=self.history_days)).isoformat(),
                )
            )
            fetch = sqlite_insert(bar_fetches).values(
                symbol=symbol, what=what, trading_day=day, fetched_at=now, bars=len(bars)
            )
            conn.execute(
                fetch.on_conflict_do_update(
                    index_elements=["symbol", "what"],
                    set_={"trading_day": day, "fetched_at": now, "bars": len(bars)},
                )
            )

    async def refresh(self, ib: IB, stock: Contract, what: str, today: date) -> int | None:
        """Read the missing bars of one series unless already read today; the bars read (``None``: the
        cache was fresh)."""
        day = today.isoformat()
        symbol = stock.symbol
        if self.fetched_today(symbol, what, day):
            return None
        duration = duration_for(self._last_date(symbol, what), today, self.history_days)
        request = (stock.conId, what, duration, "1 day", day)
        bars: list[tuple[date, float]] = []
        try:
            async with self.pacer.slot((stock.conId, what), request):
                got = await ib.reqHistoricalDataAsync(
                    stock, "", duration, "1 day", what, True, timeout=HISTORICAL_TIMEOUT_SECONDS
                )
            for b in got or []:
                d = b.date.date() if isinstance(b.date, datetime) else b.date
                if isinstance(d, date) and b.close is not None and math.isfinite(b.close) and b.close > 0:
                    bars.append((d, float(b.close)))
        except (ConnectionError, TimeoutError):
            raise
        except Exception as err:  # TWS refused the series: skip its rules today
            log.warning("%s: %s bars unavailable (%s: %s)", symbol, what, type(err).__name__, err)
        self.store(symbol, what, day, today, bars)
        log.info("%s: %d %s daily bars read (%s)", symbol, len(bars), what, duration)
        return len(bars)


class HistoryReader:
    """Builds each underlying's :class:`SymbolHistory` for a scan: bars (cached) and earnings dates."""

    def __init__(self, cache: BarCache, earnings: EarningsCalendar) -> None:
        self.cache = cache
        self.earnings = earnings

    @staticmethod
    async def _qualified(ib: IB, symbol: str) -> Contract | None:
        got = await ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD"))
        stock = got[0] if got else None
        return stock if isinstance(stock, Contract) and stock.conId else None

    async def for_symbol(self, ib: IB, symbol: str, rules: EntryRules, today: date) -> SymbolHistory:
        """The figures of ``symbol`` the rules need, reading what the cache lacks today."""
        wanted = needed_series(rules)
        day = today.isoformat()
        missing: dict[str, str] = {}
        if any(not self.cache.fetched_today(symbol, w, day) for w in wanted):
            stock = await self._qualified(ib, symbol)
            if stock is None:
                missing.update(dict.fromkeys(("iv_rank", "iv_hv_ratio", "sma200", "rsi14"), "not qualified"))
            else:
                for what in wanted:
                    await self.cache.refresh(ib, stock, what, today)
        return self.figures(symbol, rules, today, missing, *(await self.earnings.next_date(symbol, today)))

    def figures(
        self,
        symbol: str,
        rules: EntryRules,
        today: date,
        missing: dict[str, str],
        next_earn: date | None,
        earn_source: str,
    ) -> SymbolHistory:
        """The figures from the cached bars (pure but for the cache read)."""
        ivs = (
            self.cache.closes(symbol, IV, today) if rules.min_iv_rank > 0 or rules.min_iv_hv_ratio > 0 else []
        )
        hvs = self.cache.closes(symbol, HV, today) if ivs or rules.min_iv_hv_ratio > 0 else []
        closes = self.cache.closes(symbol, TRADES, today) if TRADES in needed_series(rules) else []
        iv_now = ivs[-1] if ivs else None
        hv_now = hvs[-1] if hvs else None
        rank = iv_rank(ivs)
        ratio = iv_hv_ratio(iv_now, hv_now)
        if not ivs:
            missing.setdefault("iv_rank", f"no {IV} bars from TWS")
            missing.setdefault("iv_hv_ratio", f"no {IV} bars from TWS")
        elif rank is None:
            missing.setdefault("iv_rank", f"{len(ivs)} IV bars, flat or too few")
        if ivs and not hvs:
            missing.setdefault("iv_hv_ratio", f"no {HV} bars from TWS")
        sma200 = sma(closes, 200)
        rsi = rsi_wilder(closes, 14)
        if sma200 is None:
            missing.setdefault("sma200", f"{len(closes)} daily closes, 200 needed")
        if rsi is None:
            missing.setdefault("rsi14", f"{len(closes)} daily closes, 15 needed")
        if next_earn is None:
            missing.setdefault("earnings", "none in the shipped file or from yfinance")
        return SymbolHistory(
            symbol=symbol,
            iv=iv_now,
            iv_rank=rank,
            hv=hv_now,
            iv_hv_ratio=ratio,
            close=closes[-1] if closes else None,
            sma200=sma200,
            rsi14=rsi,
            next_earnings=next_earn,
            earnings_source=earn_source,
            missing=tuple(sorted(missing.items())),
        )
