"""Pure arithmetic behind the figures the dashboard derives from stored rows. No I/O.

Units, as in ``shared/schema.py``: prices are dollars per share, a contract is
:data:`SHARES_PER_CONTRACT` shares, fractions are fractions (0.12 = 12 %), DTE is calendar days.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from shared.db import utcnow
from shared.optionmath import calendar_dte
from shared.trade import Right

#: Shares one standard US equity option covers (and the factor from $/share to $/contract).
SHARES_PER_CONTRACT = 100
#: The exchange's time zone: "today" for DTE is the date in New York.
EXCHANGE_TZ = ZoneInfo("America/New_York")


def exchange_today(now: datetime | None = None) -> date:
    """Today's date at the exchange (US/Eastern), from the machine's clock."""
    return (now or utcnow()).astimezone(EXCHANGE_TZ).date()


def dte(expiry: str | None, today: date) -> int | None:
    """Calendar days from ``today`` to ``expiry`` (``YYYYMMDD``); ``None`` without a valid expiry."""
    if not expiry:
        return None
    try:
        return calendar_dte(expiry, today)
    except ValueError:
        return None


def otm_fraction(right: str | None, strike: float | None, underlying: float | None) -> float | None:
    """How far out of the money, as a fraction of the underlying price (negative when in the money).

    Put: (underlying − strike) ÷ underlying; call: (strike − underlying) ÷ underlying.
    """
    if strike is None or not underlying or underlying <= 0:
        return None
    if right == Right.PUT:
        return (underlying - strike) / underlying
    if right == Right.CALL:
        return (strike - underlying) / underlying
    return None


def captured_fraction(premium_per_contract: float | None, value_per_contract: float | None) -> float | None:
    """Share of a short option's maximum profit already earned: (premium − value now) ÷ premium.

    Both in dollars per contract; the premium received is the maximum profit. 1.0 = worthless now,
    negative = the option is worth more than it was sold for.
    """
    if premium_per_contract is None or value_per_contract is None or premium_per_contract <= 0:
        return None
    return (premium_per_contract - value_per_contract) / premium_per_contract


def per_contract(price_per_share: float | None, multiplier: float | None = None) -> float | None:
    """Dollars per share × the multiplier (default :data:`SHARES_PER_CONTRACT`)."""
    if price_per_share is None:
        return None
    return price_per_share * (multiplier or SHARES_PER_CONTRACT)
