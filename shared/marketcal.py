"""The NYSE's regular sessions (``exchange_calendars`` XNYS: holidays and early closes included), shared by
the executor (repricing, cancels, the risk gate's market-hours check), the monitor (the trading day of the
daily-loss limit) and the dashboard (the same check before an approval).

Times are aware datetimes; callers pass TWS's clock where they have it (the simulator may run fast).
"""

from __future__ import annotations

import asyncio
import bisect
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

#: US/Eastern, the exchange's time zone.
ET = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Session:
    """One regular session of the exchange: open and close instants (aware), early closes included."""

    open: datetime
    close: datetime


class XnysSessions:
    """Regular sessions of the NYSE (``exchange_calendars`` XNYS: holidays and early closes included),
    loaded for about a year around the date asked about and reloaded when a date falls outside."""

    def __init__(self) -> None:
        self._first: date | None = None
        self._last: date | None = None
        self._opens: list[datetime] = []
        self._closes: list[datetime] = []

    def covers(self, day: date) -> bool:
        """True when ``day`` is inside the loaded range (with a week to spare)."""
        return (
            self._first is not None
            and self._last is not None
            and self._first + timedelta(days=7) <= day <= self._last - timedelta(days=7)
        )

    def load(self, around: date) -> None:
        """Load the sessions from 30 days before ``around`` to a year after it (a fraction of a second)."""
        import exchange_calendars as xcals  # heavy: imported when first needed
        import pandas as pd

        first, last = around - timedelta(days=30), around + timedelta(days=370)
        with warnings.catch_warnings():  # exchange_calendars 4.x trips pandas deprecation warnings
            warnings.simplefilter("ignore")
            cal = xcals.get_calendar("XNYS", start=pd.Timestamp(first), end=pd.Timestamp(last))
            sched = cal.schedule
            self._opens = [t.to_pydatetime() for t in sched["open"]]
            self._closes = [t.to_pydatetime() for t in sched["close"]]
        self._first, self._last = first, last

    def session_at(self, now: datetime) -> Session | None:
        """The regular session running at ``now`` (aware), or ``None`` outside regular hours."""
        if not self.covers(now.date()):
            self.load(now.date())
        i = bisect.bisect_right(self._opens, now) - 1
        if i >= 0 and now < self._closes[i]:
            return Session(self._opens[i], self._closes[i])
        return None

    def previous_close(self, now: datetime) -> datetime | None:
        """The close of the last regular session that ended at or before ``now`` (aware), or ``None`` when
        none is loaded (the calendar starts 30 days before ``now``)."""
        if not self.covers(now.date()):
            self.load(now.date())
        i = bisect.bisect_right(self._closes, now) - 1
        return self._closes[i] if i >= 0 else None

    async def session_at_async(self, now: datetime) -> Session | None:
        """:meth:`session_at`, loading the calendar in a worker thread when needed."""
        if not self.covers(now.date()):
            await asyncio.to_thread(self.load, now.date())
        return self.session_at(now)


def trading_day(now: datetime) -> str:
    """The US/Eastern date of ``now`` (aware) as ``YYYY-MM-DD``: the day a daily figure belongs to."""
    return now.astimezone(ET).date().isoformat()


def closed_reason(now: datetime, session: Session | None, next_open: datetime | None = None) -> str:
    """One line saying the regular session is closed at ``now`` (e.g. ``outside regular trading hours:
    NYSE closed at 2026-12-05 20:00 ET (XNYS calendar)``)."""
    when = now.astimezone(ET).strftime("%Y-%m-%d %H:%M ET")
    return f"outside regular trading hours: NYSE closed at {when} (XNYS calendar, early closes included)"
