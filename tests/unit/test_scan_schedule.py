"""When the scanner scans (scanner.schedule.due_scan): on the market calendar, by TWS's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scanner.schedule import ScanCall, Trigger, due_scan, scan_now_call
from shared.marketcal import Session
from shared.strategy import ScanRules

OPEN = datetime(2026, 12, 3, 14, 30, tzinfo=UTC)  # 09:30 ET
SESSION = Session(OPEN, OPEN + timedelta(hours=6, minutes=30))
PREV_CLOSE = datetime(2026, 12, 2, 21, 0, tzinfo=UTC)
RULES = ScanRules()  # first scan 15 minutes after the open


def due(now: datetime, session: Session | None = SESSION, **kw: object) -> ScanCall | None:
    args: dict[str, object] = {
        "always_open": False,
        "started": True,
        "last_scan": None,
        "seconds_since_scan": None,
        "interval_seconds": 300.0,
        "rules": RULES,
    }
    args.update(kw)
    return due_scan(now, session, PREV_CLOSE if session is None else None, **args)  # type: ignore[arg-type]


def test_start_scan_when_the_session_has_none() -> None:
    assert due(OPEN + timedelta(minutes=2), started=False) == ScanCall(Trigger.START, False)
    earlier = OPEN + timedelta(minutes=1)
    assert due(OPEN + timedelta(minutes=2), started=False, last_scan=earlier) is None


def test_first_scheduled_scan_waits_for_the_offset_after_the_open() -> None:
    assert due(OPEN + timedelta(minutes=14)) is None
    assert due(OPEN + timedelta(minutes=15)) == ScanCall(Trigger.SCHEDULE, False)
    # a start scan before the offset does not replace the first scheduled one
    start = OPEN + timedelta(minutes=3)
    assert due(OPEN + timedelta(minutes=15), last_scan=start, seconds_since_scan=720.0) is not None


def test_then_every_interval() -> None:
    last = OPEN + timedelta(minutes=15)
    assert due(last + timedelta(seconds=200), last_scan=last, seconds_since_scan=200.0) is None
    assert due(last + timedelta(seconds=300), last_scan=last, seconds_since_scan=300.0) is not None
    # the interval runs on this machine's clock when this process scanned (a fast TWS clock is ignored)
    assert due(last + timedelta(hours=1), last_scan=last, seconds_since_scan=10.0) is None


def test_one_preview_outside_hours_not_repeated_until_the_next_session() -> None:
    night = PREV_CLOSE + timedelta(hours=3)
    assert due(night, None, started=False) == ScanCall(Trigger.START, True)
    assert due(night, None) == ScanCall(Trigger.SCHEDULE, True)
    after = PREV_CLOSE + timedelta(minutes=5)
    assert due(night, None, last_scan=after, seconds_since_scan=9999.0) is None
    before = PREV_CLOSE - timedelta(minutes=5)  # the last regular scan of the previous session
    assert due(night, None, last_scan=before) == ScanCall(Trigger.SCHEDULE, True)
    off = ScanRules(preview_outside_hours=False)
    assert due(night, None, rules=off) is None


def test_always_open_treats_every_hour_as_regular() -> None:
    night = PREV_CLOSE + timedelta(hours=3)
    assert due(night, None, always_open=True, started=False) == ScanCall(Trigger.START, False)
    last = night - timedelta(seconds=100)
    assert due(night, None, always_open=True, last_scan=last, seconds_since_scan=100.0) is None
    assert due(night, None, always_open=True, last_scan=last, seconds_since_scan=300.0) is not None


def test_scan_now_is_a_preview_only_outside_hours() -> None:
    assert scan_now_call(SESSION, False) == ScanCall(Trigger.SCAN_NOW, False)
    assert scan_now_call(None, False) == ScanCall(Trigger.SCAN_NOW, True)
    assert scan_now_call(None, True) == ScanCall(Trigger.SCAN_NOW, False)
