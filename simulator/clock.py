"""The simulator's clock and the exchange's trading hours.

:class:`SimClock` runs in real time or accelerated (``speed`` simulated seconds per wall second) from a
settable start; every part of the simulator (quotes, ``reqCurrentTime``, execution times, the handshake's
connection time, the listed expiries) reads the time from it, so an accelerated run stays consistent.

:class:`TradingHours` answers "is the market open?" from the NYSE (XNYS) calendar of ``exchange_calendars``:
weekends, holidays and early closes (13:00 ET) included.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from simulator.paths import SessionTable

ET = ZoneInfo("America/New_York")
EASTERN = ZoneInfo("US/Eastern")
"""The zone TWS names in its time strings (``tws_time``); the same rules as :data:`ET`."""


def parse_time(text: str) -> datetime:
    """Parse ``2026-12-14T09:30`` (US/Eastern when no offset is given) or any ISO-8601 time into aware UTC."""
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=ET)
    return when.astimezone(UTC)


class SimClock:
    """Simulated time: ``start`` + (wall seconds since the anchor) × ``speed``.

    ``start`` None means "now" (with speed 1: real time). ``wall`` returns wall-clock epoch seconds (tests
    may pass a fake). Changing the speed or jumping re-anchors, so time never runs backwards.
    """

    def __init__(
        self, start: datetime | None = None, speed: float = 1.0, wall: Callable[[], float] = time.time
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._wall = wall
        self._speed = float(speed)
        self._anchor_wall = wall()
        self._anchor_sim = start.timestamp() if start is not None else self._anchor_wall
        self.realtime = start is None and speed == 1.0

    @property
    def speed(self) -> float:
        """Simulated seconds per wall-clock second."""
        return self._speed

    def timestamp(self) -> float:
        """Simulated time as epoch seconds."""
        return self._anchor_sim + (self._wall() - self._anchor_wall) * self._speed

    def now(self) -> datetime:
        """Simulated time, aware UTC."""
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def set_speed(self, speed: float) -> None:
        """Run ``speed`` times faster than the wall clock from now on."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._reanchor(self.timestamp())
        self._speed = float(speed)
        self.realtime = False

    def advance_to(self, when: datetime) -> None:
        """Jump forward to ``when`` (aware); raises ValueError for a time in the simulated past."""
        target = when.timestamp()
        if target < self.timestamp() - 1e-6:
            raise ValueError(f"cannot move the clock back to {when.isoformat()}")
        self._reanchor(target)
        self.realtime = False

    def _reanchor(self, sim_ts: float) -> None:
        self._anchor_wall = self._wall()
        self._anchor_sim = sim_ts


class TradingHours:
    """Regular trading hours of XNYS sessions (epoch seconds, UTC), rebuilt on demand for any date range."""

    def __init__(self, around: date | None = None) -> None:
        self._around = around or datetime.now(UTC).date()
        self._table: SessionTable | None = None  # built on first use (loading the calendar takes ~0.1 s)

    @staticmethod
    def _build(around: date) -> SessionTable:
        return SessionTable(around - timedelta(days=400), around + timedelta(days=800))

    def _cover(self, ts: float) -> SessionTable:
        day = datetime.fromtimestamp(ts, UTC).date()
        t = self._table
        if t is None:
            t = self._table = self._build(self._around)
        if not t.start + timedelta(days=7) <= day <= t.end - timedelta(days=7):
            self._table = t = self._build(day)
        return t

    def session_at(self, ts: float) -> tuple[int, int] | None:
        """(open, close) epoch seconds of the session running at ``ts``, or None outside regular hours."""
        t = self._cover(ts)
        i = t.latest_started(int(ts))
        if i >= 0 and ts < t.closes[i]:
            return t.opens[i], t.closes[i]
        return None

    def is_open(self, ts: float) -> bool:
        """True inside a regular session at ``ts`` (epoch seconds)."""
        return self.session_at(ts) is not None

    def closes_between(self, after: float, upto: float) -> list[tuple[date, int]]:
        """Sessions closing in (``after``, ``upto``]: (session date, close in epoch seconds), in order."""
        if upto <= after:
            return []
        t = self._cover(upto)
        lo = bisect.bisect_right(t.closes, after)
        hi = bisect.bisect_right(t.closes, upto)
        return [(t.dates[i], t.closes[i]) for i in range(lo, hi)]


def to_eastern(ts: datetime) -> datetime:
    """Convert to US/Eastern; a naive datetime is taken to be Eastern already."""
    return ts.replace(tzinfo=EASTERN) if ts.tzinfo is None else ts.astimezone(EASTERN)


def tws_time(ts: datetime) -> str:
    """``"YYYYMMDD HH:MM:SS US/Eastern"`` (the format ib_async's parseIBDatetime reads with a zone)."""
    return to_eastern(ts).strftime("%Y%m%d %H:%M:%S") + " US/Eastern"
