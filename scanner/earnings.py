"""Earnings report dates for the earnings entry rule (:mod:`scanner.historyrules`), cached in the
``earnings_dates`` table.

Two sources:

- **the shipped file** ``scanner/data/earnings.json`` (always; origin in ``scanner/data/README.md``):
  per symbol the reported dates (``source = file``) and dates projected 52 weeks on from the last four
  reported (``source = projected``);
- **yfinance** (``Ticker.get_earnings_dates``) when it is installed (the ``data`` extra), enabled
  (``EARNINGS_YFINANCE``, default on) and answers within ``YFINANCE_TIMEOUT_SECONDS``: asked at most once per
  symbol and day, never required — a failure is logged and the file's dates are used.

The next date is the earliest known on or after the scan's day over every source (the most cautious).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from scanner.historyrules import next_earnings
from shared.db import utcnow_iso
from shared.schema import earnings_dates

log = logging.getLogger("scanner.earnings")

#: The shipped earnings file (a copy of ``simulator/data/earnings.json``, see ``scanner/data/README.md``).
EARNINGS_FILE = Path(__file__).with_name("data") / "earnings.json"
#: Seconds yfinance gets to answer for one symbol.
YFINANCE_TIMEOUT_SECONDS = 8.0


@cache
def shipped_dates(path: Path = EARNINGS_FILE) -> dict[str, list[tuple[date, str]]]:
    """Every symbol's dates in the shipped file, with their source (``file`` or ``projected``)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, list[tuple[date, str]]] = {}
    for symbol, entry in raw.items():
        dates = [(date.fromisoformat(d), "file") for d in entry.get("reported", [])]
        dates += [(date.fromisoformat(d), "projected") for d in entry.get("projected", [])]
        out[symbol] = sorted(dates)
    return out


def yfinance_dates(symbol: str) -> list[date]:
    """Report dates yfinance knows for ``symbol`` (past and upcoming); raises when it cannot answer
    (not installed, no network, no data). Blocking: run it in a thread."""
    import yfinance  # type: ignore[import-not-found,unused-ignore]  # optional extra "data"

    frame = yfinance.Ticker(symbol).get_earnings_dates(limit=12)
    if frame is None or len(frame) == 0:
        raise LookupError(f"yfinance has no earnings dates for {symbol}")
    return sorted({ts.date() for ts in frame.index})


def _upsert(engine: Engine, symbol: str, rows: list[tuple[date, str]]) -> None:
    if not rows:
        return
    now = utcnow_iso()
    stmt = sqlite_insert(earnings_dates).values(
        [{"symbol": symbol, "date": d.isoformat(), "source": src, "fetched_at": now} for d, src in rows]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["symbol", "date"], set_={"source": stmt.excluded.source, "fetched_at": now}
    )
    with engine.begin() as conn:
        conn.execute(stmt)


class EarningsCalendar:
    """The scanner's earnings dates: the shipped file, yfinance once a day, the database as the cache.

    ``fetch`` replaces :func:`yfinance_dates` in tests; ``use_yfinance=False`` keeps it off the network.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        use_yfinance: bool = True,
        fetch: Callable[[str], list[date]] = yfinance_dates,
        timeout: float = YFINANCE_TIMEOUT_SECONDS,
    ) -> None:
        self.engine = engine
        self.use_yfinance = use_yfinance
        self.fetch = fetch
        self.timeout = timeout
        self._file_loaded: set[str] = set()
        self._asked: dict[str, date] = {}  # symbol → the day yfinance was last asked

    async def _ask_yfinance(self, symbol: str, today: date) -> None:
        if not self.use_yfinance or self._asked.get(symbol) == today:
            return
        self._asked[symbol] = today
        try:
            found = await asyncio.wait_for(asyncio.to_thread(self.fetch, symbol), self.timeout)
        except ImportError:
            log.info("yfinance is not installed: earnings dates from the shipped file only")
            self.use_yfinance = False
            return
        except Exception as err:  # never required: any failure leaves the file's dates
            log.info("%s: yfinance earnings dates unavailable (%s: %s)", symbol, type(err).__name__, err)
            return
        _upsert(self.engine, symbol, [(d, "yfinance") for d in found])

    async def next_date(self, symbol: str, today: date) -> tuple[date | None, str]:
        """The next report date on or after ``today`` and its source (``""`` when none is known)."""
        if symbol not in self._file_loaded:
            _upsert(self.engine, symbol, shipped_dates().get(symbol, []))
            self._file_loaded.add(symbol)
        await self._ask_yfinance(symbol, today)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(earnings_dates.c.date, earnings_dates.c.source).where(
                    earnings_dates.c.symbol == symbol, earnings_dates.c.date >= today.isoformat()
                )
            ).all()
        known = {date.fromisoformat(r.date): r.source for r in rows}
        nxt = next_earnings(known, today)
        return nxt, (known[nxt] if nxt is not None else "")
