"""TWS / IB Gateway daily restart windows (US Eastern time).

TWS logs itself off and restarts once a day; IB also runs a nightly maintenance. The user's TWS guide
(seed 000, "Daily Restart Handling") gives the windows 23:45–00:15 and 05:45–06:15 Eastern. While
"now" is inside one of them a lost connection is expected: the connection manager waits it out
quietly instead of alarming.

``TWS_RESTART_WINDOWS`` holds them as ``HH:MM-HH:MM`` pairs separated by commas, in Eastern time
(EST/EDT, ``America/New_York``); a window may cross midnight. An empty value means no windows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

#: TWS's restart schedule is set in US Eastern time (it follows daylight saving).
EASTERN = ZoneInfo("America/New_York")
#: The seeds' windows: midnight restart and morning maintenance.
DEFAULT_WINDOWS = "23:45-00:15,05:45-06:15"

_PAIR = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class RestartWindow:
    """One daily window ``[start, end)`` in Eastern wall-clock time; ``end < start`` crosses midnight."""

    start: time
    end: time

    def contains(self, now: datetime) -> bool:
        """True when the aware datetime ``now`` falls inside the window (compared in Eastern time)."""
        t = now.astimezone(EASTERN).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    @property
    def label(self) -> str:
        """``"23:45–00:15 ET"``."""
        return f"{self.start:%H:%M}–{self.end:%H:%M} ET"


def parse_windows(text: str) -> tuple[RestartWindow, ...]:
    """Parse ``"23:45-00:15,05:45-06:15"``; raise ``ValueError`` with a readable reason.

    Hours 0–23, minutes 0–59; a window must not be empty (start ≠ end).
    """
    windows: list[RestartWindow] = []
    for part in (p for p in text.split(",") if p.strip()):
        m = _PAIR.match(part)
        if m is None:
            raise ValueError(f"{part.strip()!r} is not HH:MM-HH:MM (Eastern time, e.g. {DEFAULT_WINDOWS})")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60):
            raise ValueError(f"{part.strip()!r}: hours must be 00-23 and minutes 00-59")
        start, end = time(h1, m1), time(h2, m2)
        if start == end:
            raise ValueError(f"{part.strip()!r}: the window is empty (start equals end)")
        windows.append(RestartWindow(start, end))
    return tuple(windows)


def window_at(windows: tuple[RestartWindow, ...], now: datetime) -> RestartWindow | None:
    """The window that contains ``now`` (aware), or ``None``."""
    return next((w for w in windows if w.contains(now)), None)
