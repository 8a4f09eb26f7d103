"""Value types of the simulator's market model (re-exported by :mod:`simulator.market`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StockSpec:
    """A stock or ETF contract."""

    symbol: str
    con_id: int
    long_name: str
    primary_exchange: str
    currency: str  # "USD"
    min_tick: float  # 0.01


@dataclass(frozen=True)
class OptionSpec:
    """An equity option contract (American style; priced as such, simulator/american.py)."""

    symbol: str  # underlying, "SPY"
    expiry: str  # "YYYYMMDD" last trade date
    strike: float
    right: str  # "P" or "C"
    con_id: int  # stable, unique, deterministic from (symbol, expiry, strike, right); > 100_000_000
    local_symbol: str  # OCC style, 21 chars: "SPY   260320P00600000"
    trading_class: str  # "SPY"
    multiplier: int  # 100
    min_tick: float  # 0.01


@dataclass(frozen=True)
class StockQuote:
    """Top of book of a stock (prices in USD, sizes in shares)."""

    bid: float
    ask: float
    last: float
    bid_size: int
    ask_size: int
    last_size: int
    volume: int
    close: float  # previous session close


@dataclass(frozen=True)
class OptionQuote:
    """Top of book and model values of an option, per share; sizes and OI in contracts."""

    bid: float
    ask: float
    last: float
    bid_size: int
    ask_size: int
    volume: int
    open_interest: int
    iv: float  # fraction, 0.25 = 25 %
    delta: float
    gamma: float
    vega: float  # per 1 vol point
    theta: float  # per calendar day
    model_price: float
    und_price: float
    pv_dividend: float


@dataclass(frozen=True)
class Bar:
    """One daily bar; prices raw (not dividend-adjusted), volume in shares."""

    date: str  # "YYYYMMDD"
    open: float
    high: float
    low: float
    close: float
    volume: int


@dataclass(frozen=True)
class HistRow:
    """One bar as sent: date ``"YYYYMMDD"``; prices in dollars per share (or vol fractions for the
    volatility series); volume in shares/contracts, WAP and count; -1 where TWS has none (non-TRADES)."""

    date: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    wap: float
    count: int
