"""Jinja filters that turn stored numbers and timestamps into display text.

Stored values follow ``shared/schema.py``: money in dollars, fractions for percentages, ISO-8601
UTC timestamps. ``None`` always renders as an em dash so an empty cell is visibly empty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask

from dashboard.clock import Clock, market_clock
from shared.db import parse_ts

DASH = "—"


def money(value: float | None, decimals: int = 2) -> str:
    """``1234.5`` → ``$1,234.50``; negatives get a leading minus: ``-$12.00``."""
    if value is None:
        return DASH
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{decimals}f}"


def number(value: float | None, decimals: int = 2) -> str:
    """A number with thousands separators and ``decimals`` places; whole floats keep their places."""
    if value is None:
        return DASH
    return f"{value:,.{decimals}f}"


def price(value: float | None) -> str:
    """A per-share price: at least two decimals, up to four when needed (``0.715``, ``6.45``, ``1.2345``)."""
    if value is None:
        return DASH
    text = f"{value:,.4f}".rstrip("0")
    decimals = len(text.split(".")[1])
    return text + "0" * max(0, 2 - decimals)


def integer(value: float | None) -> str:
    """A whole number with thousands separators (``12,500``)."""
    if value is None:
        return DASH
    return f"{round(value):,d}"


def quantity(value: float | None) -> str:
    """Contract or share counts: ``-1`` for ``-1.0`` but ``0.5`` kept for fractional shares."""
    if value is None:
        return DASH
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def percent(value: float | None, decimals: int = 1) -> str:
    """A stored fraction as a percentage: ``0.1234`` → ``12.3 %``."""
    if value is None:
        return DASH
    return f"{value * 100:,.{decimals}f} %"


def strike(value: float | None) -> str:
    """A strike the way the option's symbol shows it: ``600``, ``22.5``, ``2.75``."""
    if value is None:
        return DASH
    return f"{value:.4f}".rstrip("0").rstrip(".")


def pnl_class(value: float | None) -> str:
    """CSS class for a profit/loss cell: ``pos``, ``neg`` or empty."""
    if value is None or value == 0:
        return ""
    return "pos" if value > 0 else "neg"


def timestamp(value: str | None) -> str:
    """ISO-8601 text → ``2026-11-21 14:30:05 UTC``."""
    if not value:
        return DASH
    try:
        return parse_ts(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return value


def hhmm(value: str | None) -> str:
    """ISO-8601 text → ``14:05 UTC`` (the time of day only)."""
    if not value:
        return DASH
    try:
        return parse_ts(value).strftime("%H:%M UTC")
    except ValueError:
        return value


def age(seconds: float | None) -> str:
    """Seconds → ``8 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``; ``None`` → ``never``."""
    if seconds is None:
        return "never"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def expiry(value: str | None) -> str:
    """``20261218`` → ``2026-12-18``."""
    if not value or len(value) != 8:
        return value or DASH
    return f"{value[:4]}-{value[4:6]}-{value[6:]}"


FILTERS: dict[str, Any] = {
    "money": money,
    "number": number,
    "integer": integer,
    "price": price,
    "qty": quantity,
    "pct": percent,
    "strike": strike,
    "pnl_class": pnl_class,
    "ts": timestamp,
    "hhmm": hhmm,
    "age": age,
    "expiry": expiry,
}


def clock(now: datetime) -> Clock | None:
    """The page's "last updated" clock at ``now`` (UTC, US/Eastern and the XNYS session); ``None`` if the
    calendar cannot be read (an error page must render anyway)."""
    try:
        return market_clock(now)
    except Exception:  # noqa: BLE001 - the clock is decoration; the page matters
        return None


def register(app: Flask) -> None:
    """Make every filter above, and :func:`clock`, available to the templates of ``app``."""
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals["market_clock"] = clock
