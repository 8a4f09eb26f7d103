"""Puts the account cannot take: one contract's collateral beyond the room the per-symbol risk limit leaves.

The executor's risk gate (:mod:`shared.risk`) refuses a cash-secured put whose collateral (strike × 100 ×
contracts) would take one symbol above ``risk.max_symbol_fraction`` of net liquidation (20 %). Offering such a
put would only lead to a refusal, so the scan marks it failed with the numbers, and the scan's detail says how
many were removed per symbol — e.g. on a $100,000 account no SPY put (strike ≈ $680, $68,000 per contract)
is offered. Pure: the account figures are passed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace

from scanner.screen import Screened
from shared.risk import SymbolExposure
from shared.trade import Right


def room(symbol: str, nlv: float, exposure: Mapping[str, SymbolExposure], max_fraction: float) -> float:
    """Dollars of new put collateral ``symbol`` may still take: ``max_fraction`` × net liquidation less what
    the symbol already ties up (short puts, pending put orders, shares); never below 0."""
    held = exposure.get(symbol, SymbolExposure()).total
    return max(0.0, max_fraction * nlv - held)


def mark_unaffordable(
    screened: Iterable[Screened],
    nlv: float | None,
    exposure: Mapping[str, SymbolExposure],
    max_fraction: float,
) -> tuple[list[Screened], list[str]]:
    """Fail every passing put whose one-contract collateral (dollars) exceeds :func:`room`; return the
    screened list and one note per symbol with removals. Without net liquidation (the monitor has not
    written it yet) nothing is marked: the risk gate still decides at approval."""
    out: list[Screened] = []
    removed: Counter[str] = Counter()
    smallest: dict[str, float] = {}
    for s in screened:
        if nlv is None or nlv <= 0 or not s.passed or s.quote.right is not Right.PUT:
            out.append(s)
            continue
        free = room(s.quote.symbol, nlv, exposure, max_fraction)
        if s.collateral <= free:
            out.append(s)
            continue
        reason = (
            f"collateral ${s.collateral:,.0f}/contract > ${free:,.0f} the per-symbol limit leaves "
            f"(risk.max_symbol_fraction {max_fraction:.0%} of net liquidation ${nlv:,.0f})"
        )
        out.append(replace(s, passed=False, reasons=(*s.reasons, reason)))
        removed[s.quote.symbol] += 1
        smallest[s.quote.symbol] = min(smallest.get(s.quote.symbol, s.collateral), s.collateral)
    notes = [
        f"{sym}: {n} passing put(s) too large for the account (from ${smallest[sym]:,.0f}/contract; "
        f"the per-symbol limit leaves ${room(sym, nlv or 0.0, exposure, max_fraction):,.0f})"
        for sym, n in sorted(removed.items())
    ]
    return out, notes
