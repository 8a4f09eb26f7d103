"""Primitives shared by the server → client encoders: contract kinds, the 11-field contract block, times.

``encoders.py`` re-exports every name here, so ``from .encoders import Spec`` keeps working.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, TypeGuard, Union
from zoneinfo import ZoneInfo

from .protocol import Field

if TYPE_CHECKING:
    from .combo import BagSpec
    from .market import OptionSpec, StockSpec

Spec = Union["StockSpec", "OptionSpec", "BagSpec"]
"""Any contract the simulator trades: a stock/ETF, an option, or a combo (BAG) of them."""
Fields = list[Field]

EASTERN = ZoneInfo("US/Eastern")


def is_option(spec: Spec) -> bool:
    """True for an OptionSpec (duck-typed on ``right``)."""
    return hasattr(spec, "right")


def is_bag(spec: Spec) -> TypeGuard[BagSpec]:
    """True for a combo (BAG) contract (duck-typed on ``sec_type == "BAG"``)."""
    return getattr(spec, "sec_type", "") == "BAG"


def sec_type(spec: Spec) -> str:
    """``"OPT"``, ``"STK"``, ``"BAG"`` or ``"IND"`` (an index, simulator/vix.py)."""
    kind = getattr(spec, "sec_type", "")
    if kind in ("BAG", "IND"):
        return str(kind)
    return "OPT" if is_option(spec) else "STK"


def multiplier(spec: Spec) -> int:
    """Contract multiplier (shares per contract): 100 for standard options, 1 for stock and combos."""
    return int(getattr(spec, "multiplier", 1) or 1)


def contract11(spec: Spec, exchange: str = "SMART", primary: bool = False) -> Fields:
    """conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange(or primary), currency,
    localSymbol, tradingClass — the contract block of execDetails/position/openOrder/portfolioValue."""
    if is_bag(spec):
        return spec.contract11(exchange)
    if is_option(spec):
        o: OptionSpec = spec  # type: ignore[assignment]
        exch = "" if primary else exchange
        return [
            o.con_id,
            o.symbol,
            "OPT",
            o.expiry,
            o.strike,
            o.right,
            str(o.multiplier),
            exch,
            "USD",
            o.local_symbol,
            o.trading_class,
        ]
    s: StockSpec = spec  # type: ignore[assignment]
    exch = s.primary_exchange if primary else exchange
    return [s.con_id, s.symbol, "STK", "", 0.0, "", "", exch, s.currency, s.symbol, s.symbol]


def to_eastern(ts: datetime) -> datetime:
    """Convert to US/Eastern; a naive datetime is taken to be Eastern already."""
    return ts.replace(tzinfo=EASTERN) if ts.tzinfo is None else ts.astimezone(EASTERN)


def tws_time(ts: datetime) -> str:
    """``"YYYYMMDD HH:MM:SS US/Eastern"`` (the format ib_async's parseIBDatetime reads with a zone)."""
    return to_eastern(ts).strftime("%Y%m%d %H:%M:%S") + " US/Eastern"
