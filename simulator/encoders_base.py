"""Primitives shared by the server → client encoders: contract kinds, the 11-field contract block, times.

The contract kinds live in ``contracts.py`` and the time formats in ``clock.py`` (the layers below use them
too); this module re-exports them, and ``encoders.py`` re-exports every name here, so
``from .encoders import Spec`` keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .clock import EASTERN, to_eastern, tws_time  # noqa: F401 - re-exported
from .contracts import Fields, Spec, is_bag, is_option, multiplier, sec_type  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from .market_types import OptionSpec, StockSpec


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
