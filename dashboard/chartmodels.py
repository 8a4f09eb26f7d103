"""The pydantic models of the chart endpoints (``/api/v1/charts/...``, :mod:`dashboard.charts`).

Every chart endpoint takes a date range: ``?from=YYYY-MM-DD&to=YYYY-MM-DD``, US/Eastern calendar days (the
trading days the monitor's daily figures use), both included. ``to`` defaults to today on TWS's clock,
``from`` to ``to`` − 89 days (90 days). Money fields end in ``_usd`` (dollars, account currency).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from dashboard.apimodels import Strict

#: The earliest and latest day a range may name (bounds keep date arithmetic far from ``date.min/max``).
EARLIEST, LATEST = date(2000, 1, 1), date(2199, 12, 31)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(value: object) -> object:
    """Query text ``YYYY-MM-DD`` (ASCII digits, a real calendar day in 2000-2199) → ``date``; ``""`` →
    ``None`` (the default). Anything else is refused with a reason, so a bad value is a 400 naming the
    parameter."""
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    if not _ISO_DATE.fullmatch(value):
        raise ValueError(f"must be a date written YYYY-MM-DD, got {value[:40]!r}")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is no calendar day") from None
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}, got {value!r}")
    return day


#: A query parameter holding a day (``""`` means "not given").
QueryDate = Annotated[date | None, BeforeValidator(iso_date)]


class RangeQuery(Strict):
    """``?from=&to=``: the days a chart covers (US/Eastern, both included)."""

    model_config = ConfigDict(extra="ignore")
    from_: QueryDate = Field(
        None, alias="from", description="first day, YYYY-MM-DD (US/Eastern); default: to − 89 days"
    )
    to: QueryDate = Field(None, description="last day, YYYY-MM-DD (US/Eastern); default: today (TWS's clock)")


# --- responses ------------------------------------------------------------------------------------------


class DayRange(BaseModel):
    """The range a chart covers: ``from_day`` … ``to_day`` (US/Eastern, both included), ``days`` long."""

    from_day: str
    to_day: str
    days: int


class NetLiqPoint(BaseModel):
    """The last account snapshot of a bucket: its time (ISO-8601 UTC) and net liquidation in dollars."""

    ts: str
    net_liquidation_usd: float


class NetLiquidationOut(BaseModel):
    range: DayRange
    bucket: Literal["hour", "day", "week"]
    points: list[NetLiqPoint]


class DailyPnl(BaseModel):
    """One trading day's P&L in dollars: ``end − start`` net liquidation. ``start_basis`` says what the
    start is: ``previous_close`` (the last snapshot before the day) or ``day_open`` (the day's first
    snapshot, when there is none before it)."""

    trading_day: str
    start_net_liquidation_usd: float
    end_net_liquidation_usd: float
    pnl_usd: float
    start_basis: Literal["previous_close", "day_open"]


class DailyPnlOut(BaseModel):
    range: DayRange
    days: list[DailyPnl]
    total_pnl_usd: float


class PremiumSum(BaseModel):
    """Option premium in dollars (per trade: price per share × 100 × contracts): credits of sales,
    debits of buys (a positive number), ``net_premium_usd`` = credits − debits, commissions on those
    trades, and how many ledger legs were counted."""

    credits_usd: float
    debits_usd: float
    net_premium_usd: float
    commissions_usd: float
    legs: int


class PremiumMonth(PremiumSum):
    month: str = Field(description="YYYY-MM (US/Eastern)")


class PremiumSymbol(PremiumSum):
    symbol: str


class PremiumOut(BaseModel):
    range: DayRange
    months: list[PremiumMonth]
    symbols: list[PremiumSymbol]
    total: PremiumSum


class CollateralNow(BaseModel):
    """Collateral now, dollars (:mod:`dashboard.riskview`): short puts held (strike × 100 × contracts),
    pending (unfilled put orders and approved puts), their total and its limit, TWS's available funds and
    free = available − pending (what a new put may still tie up)."""

    account_ts: str | None
    net_liquidation_usd: float | None
    csp_held_usd: float
    csp_pending_usd: float
    csp_total_usd: float
    csp_limit_usd: float | None
    csp_limit_fraction: float
    available_funds_usd: float | None
    free_usd: float | None


class CollateralPoint(BaseModel):
    """The last account snapshot of a bucket: maintenance margin (used) and available funds (free)."""

    ts: str
    maint_margin_usd: float | None
    available_funds_usd: float | None


class CollateralOut(BaseModel):
    range: DayRange
    bucket: Literal["hour", "day", "week"]
    now: CollateralNow
    history: list[CollateralPoint]
