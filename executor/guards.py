"""Checks the executor runs on an intent before anything reaches TWS. Pure functions over plain values.

Covered calls only (wheel-rules "The cycle", step 4): a ``sell_call`` must be covered by shares held,
less the shares already covered by short calls held and by call orders still working — never a naked
call.

A roll is one combo order of exactly two legs (wheel-rules "Order execution"): one bought, one sold, the
intent's own contract (the short option held) among them; anything else is refused rather than placed as a
single leg.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.trade import Action, Intent, IntentKind, uncovered_contracts


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


def roll_shape_reason(intent: Intent) -> str | None:
    """``None`` unless ``intent`` is a roll whose legs cannot make its combo order; then the reason."""
    if intent.kind is not IntentKind.ROLL:
        return None
    legs = intent.legs
    if len(legs) != 2 or {leg.action for leg in legs} != {Action.BUY, Action.SELL}:
        found = ", ".join(f"{leg.action.value} {leg.con_id}" for leg in legs) or "none"
        return (
            "a roll needs two intent_legs, one bought and one sold (buy to close the old option, sell to "
            f"open the new one); found {found}"
        )
    if intent.con_id not in {leg.con_id for leg in legs}:
        return f"the roll's legs do not include its own contract conId {intent.con_id} (the option held)"
    if any(leg.ratio <= 0 for leg in legs):
        return "a roll's legs need a positive ratio"
    return None
