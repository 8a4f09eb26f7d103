"""Time stamps for the alert tables: aware UTC datetimes and their fixed-width ISO-8601 text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: A source of the current time (aware UTC); tests pass a fake one.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``moment`` as ISO-8601 UTC text with microseconds, so that text order equals time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
