"""Shares held, their cost basis and how many covered calls they still allow (pure, no I/O).

The scanner reads three tables — the monitor's ``positions``, the active ``sell_call`` intents and the
open wheel ``cycles`` — and :func:`holdings_from_rows` turns their rows into one :class:`Holding` per
symbol with a stock position. Wheel rules (``docs/wheel-rules.md``): shares held → sell covered calls
with strike ≥ the adjusted cost basis, one contract per 100 shares not yet covered; a symbol holding at
least 100 shares gets no new cash-secured puts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.optionmath import is_price
from shared.trade import SHARES_PER_CONTRACT, CycleStage, Right, uncovered_contracts

__all__ = ["SHARES_PER_CONTRACT", "Holding", "holdings_from_rows", "uncovered_lots"]

#: :func:`shared.trade.uncovered_contracts` under the scanner's name for it.
uncovered_lots = uncovered_contracts


@dataclass(frozen=True)
class Holding:
    """A symbol's stock position as the scanner sees it.

    ``shares`` held (sum over the symbol's STK positions); ``short_calls`` contracts of short calls
    held; ``pending_calls`` contracts in active ``sell_call`` intents; ``cost_basis`` dollars per
    share, from ``cost_basis_source``: ``"cycle"`` (the open wheel cycle's adjusted cost basis),
    ``"avg_cost"`` (TWS's average cost per share, commissions included) or ``""`` (none known).
    """

    symbol: str
    shares: float
    short_calls: float
    pending_calls: float
    cost_basis: float | None
    cost_basis_source: str

    @property
    def uncovered_lots(self) -> int:
        """Covered calls the shares still allow (:func:`uncovered_lots`)."""
        return uncovered_lots(self.shares, self.short_calls, self.pending_calls)

    @property
    def blocks_puts(self) -> bool:
        """True when at least one lot (100 shares) is held: the wheel sells calls, not new puts."""
        return self.shares >= SHARES_PER_CONTRACT - 1e-9


def _open_cycle_basis(cycles: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """Per symbol, the adjusted cost basis of its open cycle (stage not closed, highest ``seq``)."""
    best: dict[str, tuple[int, float | None]] = {}
    for row in cycles:
        if row["stage"] == CycleStage.CLOSED:
            continue
        sym, seq = str(row["symbol"]), int(row["seq"])
        if sym not in best or seq > best[sym][0]:
            best[sym] = (seq, row["adjusted_cost_basis"])
    return {sym: basis for sym, (_seq, basis) in best.items()}


def holdings_from_rows(
    positions: Iterable[Mapping[str, Any]],
    sell_call_intents: Iterable[Mapping[str, Any]],
    open_cycles: Iterable[Mapping[str, Any]],
) -> dict[str, Holding]:
    """One :class:`Holding` per symbol with an STK row in ``positions``, sorted by symbol.

    ``positions`` rows need ``symbol``, ``sec_type``, ``right``, ``quantity`` and ``avg_cost`` (as the
    ``positions`` table); ``sell_call_intents`` rows ``symbol`` and ``quantity`` (contracts) of the
    *active* ``sell_call`` intents only; ``open_cycles`` rows ``symbol``, ``seq``, ``stage`` and
    ``adjusted_cost_basis``. Cost basis: the open cycle's (highest ``seq``) adjusted cost basis when it
    is a positive price, else the quantity-weighted average ``avg_cost`` of the stock rows, else ``None``.
    """
    shares: dict[str, float] = {}
    cost: dict[str, float] = {}  # avg_cost × shares of the rows that have one
    costed: dict[str, float] = {}  # shares of those rows
    short_calls: dict[str, float] = {}
    for row in positions:
        sym, qty = str(row["symbol"]), float(row["quantity"] or 0)
        if row["sec_type"] == "STK":
            shares[sym] = shares.get(sym, 0.0) + qty
            if qty > 0 and is_price(row["avg_cost"]):
                cost[sym] = cost.get(sym, 0.0) + float(row["avg_cost"]) * qty
                costed[sym] = costed.get(sym, 0.0) + qty
        elif row["sec_type"] == "OPT" and row["right"] == Right.CALL and qty < 0:
            short_calls[sym] = short_calls.get(sym, 0.0) + abs(qty)
    pending: dict[str, float] = {}
    for row in sell_call_intents:
        sym = str(row["symbol"])
        pending[sym] = pending.get(sym, 0.0) + abs(float(row["quantity"]))
    cycle_basis = _open_cycle_basis(open_cycles)
    out: dict[str, Holding] = {}
    for sym in sorted(shares):
        basis: float | None = cycle_basis.get(sym)
        source = "cycle"
        if not is_price(basis):
            basis = cost[sym] / costed[sym] if costed.get(sym) else None
            source = "avg_cost" if basis is not None else ""
        out[sym] = Holding(sym, shares[sym], short_calls.get(sym, 0.0), pending.get(sym, 0.0), basis, source)
    return out
