"""The risk gate: pure checks of one proposed order against the account, the open exposure and the market.

The executor runs :func:`check` on every intent before anything reaches TWS and refuses it with the first
reason; the dashboard runs the same function before it creates an intent, so the user sees the refusal at
once. Limits and their sources are in ``docs/wheel-rules.md`` ("Risk limits") and :class:`RiskRules`.

Units: money in dollars (account currency); strikes dollars per share; a cash-secured put's collateral is
strike × multiplier × contracts (dollars); fractions are of net liquidation (0.20 = 20 %).

Which checks apply to what:

- *opening* orders (``sell_put``, ``sell_call``): the halt switch, the daily-loss halt, the margin cushion
  and the account data's age; a ``sell_put`` also buying power, the per-symbol limit, total CSP collateral
  and the cash reserve — each counting the collateral of working orders and pending intents;
- *every* order, closing and rolling included: regular trading hours, the TWS restart windows and the
  quote's age. Closing and rolling stay allowed under a halt (wheel-rules: "closing and rolling still
  allowed").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shared.marketcal import Session, closed_reason
from shared.strategy import RiskRules
from shared.trade import IntentKind, Right

#: Intent kinds that open (or add to) a position; the others close or roll one.
OPENING_KINDS: frozenset[IntentKind] = frozenset({IntentKind.SELL_PUT, IntentKind.SELL_CALL})
#: The account figures older than this (seconds) are not trusted for an opening order.
MAX_ACCOUNT_AGE_SECONDS = 300.0


class RiskCheck(StrEnum):
    """One limit of the gate (the name stored with a refusal)."""

    ACCOUNT_DATA = "account_data"
    HALT = "halt"
    DAILY_LOSS = "daily_loss"
    MARGIN_CUSHION = "margin_cushion"
    BUYING_POWER = "buying_power"
    SYMBOL_LIMIT = "symbol_limit"
    CSP_COLLATERAL = "csp_collateral"
    CASH_RESERVE = "cash_reserve"
    MARKET_HOURS = "market_hours"
    RESTART_WINDOW = "restart_window"
    STALE_QUOTE = "stale_quote"


@dataclass(frozen=True)
class Refusal:
    """Why the gate refuses: the check and one line with the number that failed and its limit."""

    check: RiskCheck
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Proposal:
    """The order to check: ``contracts`` (positive) of ``symbol`` at ``strike`` (dollars per share; a
    ``sell_put``'s collateral is strike × multiplier × contracts)."""

    kind: IntentKind
    symbol: str
    contracts: int
    strike: float | None = None
    right: Right | None = None
    multiplier: int = 100

    @property
    def opening(self) -> bool:
        """True for an order that opens a position (sell a put or a call)."""
        return self.kind in OPENING_KINDS

    @property
    def collateral(self) -> float:
        """Dollars a ``sell_put`` ties up (strike × multiplier × contracts); 0 for anything else."""
        if self.kind is not IntentKind.SELL_PUT or self.strike is None:
            return 0.0
        return self.strike * self.multiplier * self.contracts


@dataclass(frozen=True)
class AccountFigures:
    """The account as the monitor last read it (dollars; ``None`` when TWS did not report it) and the
    figures' age in seconds."""

    net_liquidation: float | None
    total_cash: float | None
    available_funds: float | None
    excess_liquidity: float | None
    age_seconds: float | None = None


@dataclass(frozen=True)
class SymbolExposure:
    """One symbol's exposure, dollars: ``csp_collateral`` of short puts held; ``pending_collateral`` of put
    orders working at TWS and active ``sell_put`` intents not yet filled; ``share_value`` of shares held."""

    csp_collateral: float = 0.0
    pending_collateral: float = 0.0
    share_value: float = 0.0

    @property
    def total(self) -> float:
        """Everything the symbol ties up, dollars."""
        return self.csp_collateral + self.pending_collateral + self.share_value


@dataclass(frozen=True)
class RiskSnapshot:
    """Everything the gate looks at. ``now`` is TWS's clock (aware). ``session`` the regular session
    running at ``now`` (``None``: closed); ``always_open`` skips the hours check (``MARKET_HOURS=always``,
    paper only). ``restart_window`` names the TWS restart window ``now`` is in, if any. ``quote_age_seconds``
    is the age of the quote the order would be priced on (``None``: not known here, e.g. on the dashboard).
    ``halted_by`` is who switched the halt on (``None``: not halted); ``daily_loss_reason`` the monitor's line
    when the daily-loss limit halted new positions today (``None``: not halted)."""

    account: AccountFigures
    exposure: Mapping[str, SymbolExposure]
    now: datetime
    session: Session | None
    always_open: bool = False
    restart_window: str | None = None
    quote_age_seconds: float | None = None
    halted_by: str | None = None
    halt_reason: str = ""
    daily_loss_reason: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def csp_collateral(self) -> float:
        """All short puts' collateral, held and pending, dollars."""
        return sum(e.csp_collateral + e.pending_collateral for e in self.exposure.values())

    @property
    def pending_collateral(self) -> float:
        """Collateral of put orders working and intents pending, dollars."""
        return sum(e.pending_collateral for e in self.exposure.values())


def _money(x: float) -> str:
    return f"${x:,.0f}"


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def market_refusals(p: Proposal, snap: RiskSnapshot, rules: RiskRules) -> list[Refusal]:
    """Hours, restart windows and quote age: the checks every order passes, closing and rolling included."""
    out: list[Refusal] = []
    if not snap.always_open and (
        snap.session is None or not snap.session.open <= snap.now < snap.session.close
    ):
        out.append(Refusal(RiskCheck.MARKET_HOURS, closed_reason(snap.now, snap.session)))
    if snap.restart_window is not None:
        out.append(
            Refusal(
                RiskCheck.RESTART_WINDOW,
                f"inside the TWS restart window {snap.restart_window}: no new orders until it ends",
            )
        )
    age = snap.quote_age_seconds
    if age is not None and age > rules.max_quote_age_seconds:
        out.append(
            Refusal(
                RiskCheck.STALE_QUOTE,
                f"quote is {age:.0f} s old, more than max_quote_age_seconds "
                f"{rules.max_quote_age_seconds:g} s",
            )
        )
    return out


def _account_refusals(p: Proposal, snap: RiskSnapshot, rules: RiskRules) -> list[Refusal]:
    out: list[Refusal] = []
    acct = snap.account
    nlv = acct.net_liquidation
    if nlv is None or nlv <= 0:
        return [Refusal(RiskCheck.ACCOUNT_DATA, "no net liquidation from TWS yet: is the monitor running?")]
    if acct.age_seconds is not None and acct.age_seconds > MAX_ACCOUNT_AGE_SECONDS:
        out.append(
            Refusal(
                RiskCheck.ACCOUNT_DATA,
                f"the account figures are {acct.age_seconds:.0f} s old (more than "
                f"{MAX_ACCOUNT_AGE_SECONDS:.0f} s): is the monitor running?",
            )
        )
    if acct.excess_liquidity is not None:
        cushion = acct.excess_liquidity / nlv
        if cushion < rules.min_margin_cushion:
            out.append(
                Refusal(
                    RiskCheck.MARGIN_CUSHION,
                    f"margin cushion {_pct(cushion)} (excess liquidity {_money(acct.excess_liquidity)} ÷ "
                    f"net liquidation {_money(nlv)}) is below min_margin_cushion "
                    f"{_pct(rules.min_margin_cushion)}",
                )
            )
    new = p.collateral
    if new <= 0:
        return out
    what = f"{p.contracts} {p.symbol} put(s) at {p.strike:g} need {_money(new)} collateral"
    if acct.available_funds is not None:
        free = acct.available_funds - snap.pending_collateral
        if new > free:
            out.append(
                Refusal(
                    RiskCheck.BUYING_POWER,
                    f"{what}; available funds {_money(acct.available_funds)} less "
                    f"{_money(snap.pending_collateral)} "
                    f"committed to working orders and pending intents leave {_money(free)}",
                )
            )
    sym = snap.exposure.get(p.symbol, SymbolExposure())
    limit = rules.max_symbol_fraction * nlv
    if sym.total + new > limit:
        out.append(
            Refusal(
                RiskCheck.SYMBOL_LIMIT,
                f"{what}; {p.symbol} would tie up {_money(sym.total + new)} "
                f"({_pct((sym.total + new) / nlv)} of net liquidation {_money(nlv)}), above "
                f"max_symbol_fraction {_pct(rules.max_symbol_fraction)} = {_money(limit)}",
            )
        )
    total = snap.csp_collateral + new
    limit = rules.max_csp_collateral_fraction * nlv
    if total > limit:
        out.append(
            Refusal(
                RiskCheck.CSP_COLLATERAL,
                f"{what}; all put collateral would be {_money(total)} ({_pct(total / nlv)} of net "
                f"liquidation {_money(nlv)}), above max_csp_collateral_fraction "
                f"{_pct(rules.max_csp_collateral_fraction)}",
            )
        )
    if acct.total_cash is not None:
        reserve = acct.total_cash - total
        floor = rules.min_cash_reserve_fraction * nlv
        if reserve < floor:
            out.append(
                Refusal(
                    RiskCheck.CASH_RESERVE,
                    f"{what}; cash {_money(acct.total_cash)} less all put collateral {_money(total)} leaves "
                    f"{_money(reserve)}, below min_cash_reserve_fraction "
                    f"{_pct(rules.min_cash_reserve_fraction)} "
                    f"of net liquidation = {_money(floor)}",
                )
            )
    return out


def check(p: Proposal, snap: RiskSnapshot, rules: RiskRules) -> list[Refusal]:
    """Every limit ``p`` breaks now, most fundamental first (empty: the order may go).

    Order: halt switch, daily-loss halt, market hours, restart window, quote age, then (opening orders) the
    account checks. A closing or rolling order only meets the market checks."""
    out: list[Refusal] = []
    if p.opening and snap.halted_by is not None:
        why = f" ({snap.halt_reason})" if snap.halt_reason else ""
        out.append(
            Refusal(
                RiskCheck.HALT,
                f"trading is halted by {snap.halted_by}{why}: no new positions (closing and rolling allowed)",
            )
        )
    if p.opening and snap.daily_loss_reason is not None:
        out.append(Refusal(RiskCheck.DAILY_LOSS, snap.daily_loss_reason))
    out += market_refusals(p, snap, rules)
    if p.opening:
        out += _account_refusals(p, snap, rules)
    return out


def first_refusal(p: Proposal, snap: RiskSnapshot, rules: RiskRules) -> Refusal | None:
    """The first of :func:`check`'s refusals, or ``None`` when the order may go."""
    found = check(p, snap, rules)
    return found[0] if found else None
