"""Checks the executor runs on an intent before anything reaches TWS. Pure functions over plain values.

Covered calls only (wheel-rules "The cycle", step 4): a ``sell_call`` must be covered by shares held,
less the shares already covered by short calls held and by call orders still working — never a naked
call.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.trade import uncovered_contracts


@dataclass(frozen=True)
class Coverage:
    """Shares of one symbol and what already covers them. ``shares`` held (may be 0); ``short_calls`` and
    ``working_calls`` are contracts (positive) held short or in working SELL orders; ``multiplier`` shares
    per contract."""

    symbol: str
    shares: float
    short_calls: float
    working_calls: float
    multiplier: int = 100

    @property
    def uncovered_contracts(self) -> int:
        """Whole contracts the remaining shares can still cover (:func:`shared.trade.uncovered_contracts`)."""
        return uncovered_contracts(self.shares, self.short_calls, self.working_calls, self.multiplier)


def naked_call_reason(cov: Coverage, contracts: int) -> str | None:
    """``None`` when ``contracts`` calls are covered; otherwise the one-line reason, with the numbers."""
    if contracts <= cov.uncovered_contracts:
        return None
    return (
        f"not covered: selling {contracts} {cov.symbol} call(s) needs {contracts * cov.multiplier:g} "
        f"uncovered shares; {cov.shares:g} held, {cov.short_calls:g} short call(s) and "
        f"{cov.working_calls:g} working call order(s) already cover "
        f"{(cov.short_calls + cov.working_calls) * cov.multiplier:g} — never a naked call"
    )
