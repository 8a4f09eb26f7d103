"""Turn ib_async's account values and portfolio items into rows of ``account_snapshots`` and ``positions``.

Pure functions (no I/O) so the mapping is testable: IB's account-value tags are documented in the
TWS API reference ("Account Summary Tags"); portfolio items follow ``updatePortfolio``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

#: account_snapshots column → IB account-value tag.
ACCOUNT_TAGS: dict[str, str] = {
    "net_liquidation": "NetLiquidation",
    "total_cash": "TotalCashValue",
    "buying_power": "BuyingPower",
    "excess_liquidity": "ExcessLiquidity",
    "available_funds": "AvailableFunds",
    "maint_margin": "MaintMarginReq",
    "unrealized_pnl": "UnrealizedPnL",
    "realized_pnl": "RealizedPnL",
}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def account_row(values: Iterable[Any], account: str, ts: str) -> dict[str, Any] | None:
    """One ``account_snapshots`` row from ib_async ``AccountValue`` items (tag, value, currency, account).

    Prefers the USD value of a tag, then BASE. Returns ``None`` when net liquidation is missing (no data yet).
    Money is in dollars.
    """
    by_tag: dict[str, dict[str, float]] = {}
    for av in values:
        if account and av.account != account:
            continue
        num = _number(av.value)
        if num is not None:
            by_tag.setdefault(av.tag, {})[av.currency] = num
    row: dict[str, Any] = {"ts": ts, "account": account}
    for column, tag in ACCOUNT_TAGS.items():
        cur = by_tag.get(tag, {})
        row[column] = cur.get("USD", cur.get("BASE"))
    return row if row["net_liquidation"] is not None else None


def underlying_price(ticker: Any, items: list[Any], item: Any) -> float | None:
    """The underlying's price in dollars per share: a stock's own market price; for an option the
    ``undPrice`` of its streamed model greeks, else the market price of a stock position in it."""
    c = item.contract
    if c.secType == "STK":
        return _finite(item.marketPrice)
    greeks = getattr(ticker, "modelGreeks", None) if ticker is not None else None
    und = _finite(getattr(greeks, "undPrice", None))
    if und is not None and und > 0:
        return und
    for other in items:
        if other.contract.secType == "STK" and other.contract.symbol == c.symbol:
            return _finite(other.marketPrice)
    return None


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def position_row(item: Any, delta: float | None, ts: str, underlying: float | None = None) -> dict[str, Any]:
    """One ``positions`` row from an ib_async ``PortfolioItem``, the contract's delta per share and the
    underlying's price (dollars per share).

    Stocks have delta 1. ``position_delta`` is share-equivalent: delta × quantity × multiplier.
    """
    c = item.contract
    multiplier = int(float(c.multiplier)) if c.multiplier else (100 if c.secType == "OPT" else 1)
    if c.secType == "STK":
        delta = 1.0
    position_delta = delta * item.position * multiplier if delta is not None else None
    return {
        "con_id": c.conId,
        "account": item.account,
        "symbol": c.symbol,
        "sec_type": c.secType,
        "local_symbol": c.localSymbol or c.symbol,
        "expiry": c.lastTradeDateOrContractMonth or None,
        "strike": c.strike or None,
        "right": (c.right or None) if c.secType == "OPT" else None,
        "multiplier": multiplier,
        "quantity": item.position,
        "avg_cost": item.averageCost,
        "market_price": item.marketPrice,
        "market_value": item.marketValue,
        "unrealized_pnl": item.unrealizedPNL,
        "realized_pnl": item.realizedPNL,
        "delta": delta,
        "position_delta": position_delta,
        "updated_at": ts,
        "underlying_price": underlying,
    }


def model_delta(greeks: Mapping[str, Any] | Any) -> float | None:
    """The delta of an ib_async ``OptionComputation`` (model greeks), or ``None`` when not computed."""
    delta = getattr(greeks, "delta", None)
    if delta is None or not math.isfinite(delta) or abs(delta) > 1:
        return None
    return float(delta)
