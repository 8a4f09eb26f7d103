"""The "last updated" clock of every page: the time in UTC and US/Eastern with the market session from the
XNYS calendar (:mod:`shared.marketcal`: holidays and early closes included).

Sessions: ``pre-market`` (04:00 ET until the open of a trading day), ``open`` (the regular session;
``early close`` on a day it ends before 16:00 ET), ``after-hours`` (the close until 20:00 ET) and
``closed`` (nights, weekends, holidays).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, time

from shared.marketcal import ET, XnysSessions

#: Extended hours around the regular session (US/Eastern wall clock).
PRE_MARKET_START, AFTER_HOURS_END = time(4, 0), time(20, 0)
#: A regular session closing before this (ET) is an early close.
REGULAR_CLOSE = time(16, 0)

_SESSIONS = XnysSessions()
_LOCK = threading.Lock()  # waitress serves from several threads; the calendar (re)loads in place
#: How the header names each session.
LABELS = {
    "pre-market": "pre-market",
    "open": "market open",
    "early close": "market open, early close",
    "after-hours": "after-hours",
    "closed": "market closed",
}


@dataclass(frozen=True)
class Clock:
    """One instant as the pages show it: ``utc`` and ``eastern`` aware datetimes, ``session``
    (``pre-market`` | ``open`` | ``early close`` | ``after-hours`` | ``closed``) and ``detail``
    (e.g. ``closes 13:00 ET``)."""

    utc: datetime
    eastern: datetime
    session: str
    detail: str

    @property
    def label(self) -> str:
        """The session as the header reads: ``market open``, ``pre-market``, ``market closed`` …"""
        return LABELS.get(self.session, self.session)

    def as_json(self) -> dict[str, str]:
        """ISO-8601 times and the session, for the API."""
        return {
            "utc": self.utc.isoformat(),
            "eastern": self.eastern.isoformat(),
            "session": self.session,
            "detail": self.detail,
        }


def market_clock(now: datetime) -> Clock:
    """The clock at ``now`` (aware): the session from the XNYS calendar at that instant."""
    eastern = now.astimezone(ET)
    noon = datetime.combine(eastern.date(), time(12, 0), tzinfo=ET)  # inside any session of the day
    with _LOCK:
        today = _SESSIONS.session_at(noon)
    if today is None:
        return Clock(now, eastern, "closed", "no session today (weekend or holiday)")
    close_et = today.close.astimezone(ET)
    early = close_et.time() < REGULAR_CLOSE
    closes = f"closes {close_et:%H:%M} ET"
    if today.open <= now < today.close:
        return Clock(now, eastern, "early close" if early else "open", closes)
    if now < today.open:
        if eastern.time() >= PRE_MARKET_START:
            return Clock(now, eastern, "pre-market", f"opens {today.open.astimezone(ET):%H:%M} ET")
        return Clock(now, eastern, "closed", f"pre-market from {PRE_MARKET_START:%H:%M} ET")
    after_end = datetime.combine(eastern.date(), AFTER_HOURS_END, tzinfo=ET)
    if now < after_end:
        return Clock(now, eastern, "after-hours", f"closed at {close_et:%H:%M} ET")
    return Clock(
        now, eastern, "closed", f"closed at {close_et:%H:%M} ET" + (" (early close)" if early else "")
    )
