"""When the scanner scans (pure, no I/O): on the market calendar, by TWS's clock.

- In regular hours (an XNYS session, or every hour under ``MARKET_HOURS=always``): the first scan of a
  session ``first_scan_after_open_minutes`` after the open, then every ``scan_interval_seconds``; a scan at
  the process's start when none exists yet for the session (trigger ``start``).
- Outside them: one ``preview`` scan (quotes stale; labelled as such) when ``preview_outside_hours``, not
  repeated until the next session (trigger ``start`` at the process's start, else ``schedule``).
- A ``scan_now`` command scans at once, in or outside hours (:func:`scan_now_call`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.marketcal import Session
from shared.strategy import ScanRules

__all__ = ["ScanCall", "Trigger", "due_scan", "scan_now_call"]


class Trigger(StrEnum):
    """Why a scan ran (``scans.trigger``)."""

    SCHEDULE = "schedule"
    START = "start"
    SCAN_NOW = "scan_now"


@dataclass(frozen=True)
class ScanCall:
    """A scan to run now: why, and whether it is a preview (outside regular hours)."""

    trigger: Trigger
    preview: bool


def scan_now_call(session: Session | None, always_open: bool) -> ScanCall:
    """The scan a ``scan_now`` command runs: a preview outside regular hours."""
    return ScanCall(Trigger.SCAN_NOW, preview=session is None and not always_open)


def due_scan(
    now: datetime,
    session: Session | None,
    previous_close: datetime | None,
    *,
    always_open: bool,
    started: bool,
    last_scan: datetime | None,
    seconds_since_scan: float | None,
    interval_seconds: float,
    rules: ScanRules,
) -> ScanCall | None:
    """The scan due at ``now`` (TWS's clock, aware), or ``None``.

    ``session``: the regular session at ``now`` (``None`` outside); ``previous_close``: the close of the
    last session before ``now``; ``always_open``: ``MARKET_HOURS=always`` (every hour is regular, no open
    offset); ``started``: this process has looked before (else a missing scan is a ``start`` one);
    ``last_scan``: when the newest completed scan started (TWS's clock), ``None`` if none;
    ``seconds_since_scan``: seconds since this process last started one (its own clock, so a fast simulator
    clock does not shorten the interval), ``None`` if it has not.
    """
    age = seconds_since_scan
    if age is None and last_scan is not None:
        age = (now - last_scan).total_seconds()
    if always_open:
        if not started:
            return ScanCall(Trigger.START, preview=False)
        return ScanCall(Trigger.SCHEDULE, False) if age is None or age >= interval_seconds else None
    if session is not None:
        first_at = session.open + timedelta(minutes=rules.first_scan_after_open_minutes)
        in_session = last_scan is not None and last_scan >= session.open
        if not in_session and not started:
            return ScanCall(Trigger.START, preview=False)
        if now < first_at:
            return None
        if last_scan is None or last_scan < first_at or age is None or age >= interval_seconds:
            return ScanCall(Trigger.SCHEDULE, preview=False)
        return None
    if not rules.preview_outside_hours:
        return None
    if last_scan is not None and previous_close is not None and last_scan >= previous_close:
        return None  # this stretch outside regular hours has its scan
    return ScanCall(Trigger.SCHEDULE if started else Trigger.START, preview=True)
