"""Server → client builders for account data: account values, portfolio, positions, account summary, P&L.

Layouts follow ib_async ``decoder.py`` and IB's ``ibapi/decoder.py`` (both oracles are golden-tested per
server version). Money in dollars; prices in dollars per share; positions in shares or contracts.
"""

from __future__ import annotations

from datetime import datetime

from .encoders_base import Fields, Spec, contract11, to_eastern
from .protocol import UNSET_DOUBLE, Field, Out

UNSET_TEXT = "1.7976931348623157E308"
"""How TWS writes an unset double on the wire (ibapi decodes it to ``UNSET_DOUBLE``, ib_async to 1.8e308)."""


def money_or_unset(value: float | None, digits: int = 2) -> Field:
    """A dollar amount rounded to ``digits``, or TWS's literal unset double for None / ``UNSET_DOUBLE``."""
    if value is None or value == UNSET_DOUBLE:
        return UNSET_TEXT
    return round(value, digits)


def account_value(key: str, value: str, currency: str, account: str) -> Fields:
    """accountValue (6): ``6, 2, key, value, currency, account``."""
    return [Out.ACCT_VALUE, 2, key, value, currency, account]


def portfolio_value(
    spec: Spec,
    position: float,
    market_price: float,
    market_value: float,
    avg_cost: float,
    unrealized: float,
    realized: float,
    account: str,
) -> Fields:
    """portfolioValue (7): exactly 20 fields; avgCost per share (STK) or per contract (OPT, × multiplier)."""
    return [
        Out.PORTFOLIO_VALUE,
        8,
        *contract11(spec, primary=True),
        position,
        market_price,
        market_value,
        avg_cost,
        unrealized,
        realized,
        account,
    ]


def account_time(ts: datetime) -> Fields:
    """accountTime (8): ``HH:MM``."""
    return [Out.ACCT_UPDATE_TIME, 1, to_eastern(ts).strftime("%H:%M")]


def account_download_end(account: str) -> Fields:
    """accountDownloadEnd (54)."""
    return [Out.ACCT_DOWNLOAD_END, 1, account]


def position(account: str, spec: Spec, pos: float, avg_cost: float) -> Fields:
    """position (61): 16 fields."""
    return [Out.POSITION_DATA, 3, account, *contract11(spec, exchange=""), pos, avg_cost]


def position_end() -> Fields:
    """positionEnd (62)."""
    return [Out.POSITION_END, 1]


def account_update_multi(
    req_id: int, account: str, model: str, key: str, value: str, currency: str
) -> Fields:
    """accountUpdateMulti (73): 8 fields."""
    return [Out.ACCOUNT_UPDATE_MULTI, 1, req_id, account, model, key, value, currency]


def account_update_multi_end(req_id: int) -> Fields:
    """accountUpdateMultiEnd (74)."""
    return [Out.ACCOUNT_UPDATE_MULTI_END, 1, req_id]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> Fields:
    """accountSummary (63): ``63, 1, reqId, account, tag, value, currency`` (currency '' for ratios/text)."""
    return [Out.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> Fields:
    """accountSummaryEnd (64): ``64, 1, reqId``."""
    return [Out.ACCOUNT_SUMMARY_END, 1, req_id]


def pnl(req_id: int, daily: float | None, unrealized: float | None, realized: float | None) -> Fields:
    """pnl (94): ``94, reqId, dailyPnL, unrealizedPnL, realizedPnL`` in dollars (no version field)."""
    return [
        Out.PNL,
        req_id,
        money_or_unset(daily),
        money_or_unset(unrealized),
        money_or_unset(realized),
    ]


def pnl_single(
    req_id: int,
    pos: float,
    daily: float | None,
    unrealized: float | None,
    realized: float | None,
    value: float | None,
) -> Fields:
    """pnlSingle (95): ``95, reqId, pos, dailyPnL, unrealizedPnL, realizedPnL, value`` (dollars; pos in
    shares/contracts; value = market value of the position)."""
    return [
        Out.PNL_SINGLE,
        req_id,
        pos,
        money_or_unset(daily),
        money_or_unset(unrealized),
        money_or_unset(realized),
        money_or_unset(value),
    ]
