"""The management rules on open short options: pure functions from a typed snapshot to decisions (no I/O).

The monitor (:mod:`monitor.manage`) gathers one :class:`ShortOption` per short option held, calls
:func:`evaluate`, looks for a roll target where a rule asks for a roll (:func:`choose_roll` over the
:class:`RollCandidate` it read), and stores what :func:`to_decision` returns.

Rules, defaults and sources (``docs/wheel-rules.md`` "Management"; :class:`shared.strategy.ManagementRules`):

========== ====================================================== ===================== ===================
rule       fires when                                             action                source
========== ====================================================== ===================== ===================
stop_loss  mark − credit ≥ ``stop_loss_multiple`` × credit (2×)    close, or roll        tastytrade 2× stop
profit     (credit − mark) ÷ credit ≥ ``profit_take_fraction``    close                 tastytrade 50 %
dte_roll   DTE ≤ ``roll_dte`` (21)                                roll, else close      tastytrade 21 DTE
gamma      DTE ≤ ``gamma_dte`` (7) and in the money               alert: hold; close    ibkr-options-income
assignment |delta| ≥ ``assignment_delta`` (0.50), DTE ≤ 7         alert: hold; roll     wheel practice
========== ====================================================== ===================== ===================

Units: prices and credits are dollars per share (IB reports a position's ``avgCost`` per contract, so the
credit is ``|avgCost| ÷ multiplier``); ``mark`` is the cost to close now, the bid/ask midpoint; fractions of
the credit (0.50 = 50 %); DTE is calendar days to the expiry from TWS's clock (US/Eastern date); deltas are
per share and signed. A rule that needs a price never fires without one (no two-sided quote: no mark).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from shared.optionmath import is_price, mid
from shared.strategy import EntryRules, ManagementRules
from shared.trade import Decision, ManagementAction, ManagementRule, Right, RuleMode

#: Tolerance (fractions and dollars per share) so that a value exactly at a threshold counts as reached
#: despite binary float noise (1.20 × 0.5 vs 0.60).
EPS = 1e-9

#: Rules in the order they are checked and reported; the first order-creating one wins a position.
PRIORITY: tuple[ManagementRule, ...] = (
    ManagementRule.STOP_LOSS,
    ManagementRule.PROFIT_TAKE,
    ManagementRule.DTE_ROLL,
    ManagementRule.GAMMA,
    ManagementRule.ASSIGNMENT,
)

_LABEL = {
    ManagementRule.STOP_LOSS: "stop loss",
    ManagementRule.PROFIT_TAKE: "profit take",
    ManagementRule.DTE_ROLL: "DTE roll",
    ManagementRule.GAMMA: "gamma risk",
    ManagementRule.ASSIGNMENT: "assignment risk",
}


def rule_label(rule: ManagementRule) -> str:
    """The rule as the user reads it (``profit take``)."""
    return _LABEL[rule]


def _quote(x: float | None) -> float | None:
    """A quote side as a finite number ≥ 0, or ``None`` (IB sends -1 or NaN for "none")."""
    if x is None or isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) or x < 0:
        return None
    return float(x)


def close_mark(bid: float | None, ask: float | None) -> float | None:
    """Dollars per share to close a short option now: the bid/ask midpoint.

    A zero bid counts (a far out-of-the-money option often has none: mark = ask ÷ 2); no ask, a crossed
    quote or a missing side gives ``None``.
    """
    b, a = _quote(bid), _quote(ask)
    if b is None or a is None or not is_price(a) or b > a:
        return None
    if b == 0:
        return a / 2
    return mid(b, a)


@dataclass(frozen=True)
class ShortOption:
    """One open short option, as the monitor sees it at a refresh.

    ``contracts`` positive (contracts short); ``multiplier`` shares per contract; ``credit`` dollars per
    share received (``|avgCost| ÷ multiplier``, IB's average cost is per contract and net of commission);
    ``bid``/``ask`` dollars per share (``None``: no quote); ``delta`` per share, signed (``None``: no model
    greeks yet); ``underlying_price`` dollars per share; ``dte`` calendar days from TWS's clock (US/Eastern
    date) to ``expiry`` (``YYYYMMDD``).
    """

    symbol: str
    con_id: int
    local_symbol: str
    right: Right
    strike: float
    expiry: str
    contracts: int
    multiplier: int
    credit: float
    bid: float | None
    ask: float | None
    delta: float | None
    underlying_price: float | None
    dte: int

    @property
    def mark(self) -> float | None:
        """Dollars per share to close now (:func:`close_mark`)."""
        return close_mark(self.bid, self.ask)

    @property
    def profit_fraction(self) -> float | None:
        """(credit − mark) ÷ credit: 0.5 = half the credit kept, −2 = a loss of twice the credit."""
        m = self.mark
        if m is None or not is_price(self.credit):
            return None
        return (self.credit - m) / self.credit

    @property
    def itm(self) -> bool:
        """In the money: a put's underlying below its strike, a call's above (``False`` without a price)."""
        u = self.underlying_price
        if u is None or not is_price(u):
            return False
        return u < self.strike if self.right is Right.PUT else u > self.strike


@dataclass(frozen=True)
class Trigger:
    """A rule that fires now: its mode and action, the numbers that made it fire (``why``) and what it asks
    (``what``); ``severity`` of its alert (info | warning | critical)."""

    rule: ManagementRule
    mode: RuleMode
    action: ManagementAction
    why: str
    what: str
    severity: str

    @property
    def reason(self) -> str:
        """The one line the user reads: ``why: what``."""
        return f"{self.why}: {self.what}"

    @property
    def places_order(self) -> bool:
        """True when the decision creates an intent (approve or auto mode, close or roll)."""
        return self.mode is not RuleMode.ALERT and self.action is not ManagementAction.HOLD


def _money(x: float) -> str:
    return f"${x:,.2f}"


def show_symbol(local_symbol: str) -> str:
    """An OCC local symbol as the user reads it, runs of spaces collapsed (``KO 261218P00065000``)."""
    return " ".join(local_symbol.split())


def _severity(rule: ManagementRule, mode: RuleMode) -> str:
    """warning when the user must act or should know (approve mode, alerts, losses); info for a routine
    auto close or roll (profit take, DTE roll)."""
    if mode is RuleMode.AUTO and rule in (ManagementRule.PROFIT_TAKE, ManagementRule.DTE_ROLL):
        return "info"
    return "warning"


def _close_what(option: ShortOption) -> str:
    cap = f" at ≤ {_money(option.ask)}/share" if option.ask is not None and is_price(option.ask) else ""
    return f"buy to close {show_symbol(option.local_symbol)}{cap}"


def _roll_what(option: ShortOption, min_net_credit: float) -> str:
    return f"roll {show_symbol(option.local_symbol)} out for ≥ {_money(min_net_credit)}/share net credit"


def evaluate(option: ShortOption, rules: ManagementRules) -> list[Trigger]:
    """Every rule that fires now for ``option``, in :data:`PRIORITY` order (stop loss first).

    Price rules (stop loss, profit take) need a mark and a positive credit; the assignment rule needs a
    delta; the gamma rule an underlying price. Nothing fires once the option has expired (DTE < 0).
    The table in the module docstring gives each rule's threshold and action; the modes come from
    ``rules`` (``*_mode``). Alert mode of the assignment and gamma rules holds (no trade).
    """
    if option.dte < 0:
        return []
    fired: dict[ManagementRule, tuple[ManagementAction, RuleMode, str, str]] = {}
    mark, credit, profit = option.mark, option.credit, option.profit_fraction
    if mark is not None and profit is not None:
        loss = mark - credit
        if loss >= rules.stop_loss_multiple * credit - EPS:
            mode = RuleMode(rules.stop_loss_mode)
            action = ManagementAction(rules.stop_loss_action)
            why = (
                f"loss {_money(loss)}/share = {loss / credit:.2f} × the {_money(credit)}/share credit "
                f"≥ {rules.stop_loss_multiple:g} × (mark {_money(mark)})"
            )
            what = (
                _close_what(option)
                if action is ManagementAction.CLOSE
                else _roll_what(option, rules.roll_min_net_credit)
            )
            fired[ManagementRule.STOP_LOSS] = (action, mode, why, what)
        if profit >= rules.profit_take_fraction - EPS:
            why = (
                f"profit {profit * 100:.0f} % of the {_money(credit)}/share credit "
                f"≥ {rules.profit_take_fraction * 100:g} % (mark {_money(mark)})"
            )
            fired[ManagementRule.PROFIT_TAKE] = (
                ManagementAction.CLOSE,
                RuleMode(rules.profit_take_mode),
                why,
                _close_what(option),
            )
    if option.dte <= rules.roll_dte:
        fired[ManagementRule.DTE_ROLL] = (
            ManagementAction.ROLL,
            RuleMode(rules.roll_mode),
            f"{option.dte} DTE ≤ {rules.roll_dte}",
            _roll_what(option, rules.roll_min_net_credit),
        )
    if option.dte <= rules.gamma_dte and option.itm:
        mode = RuleMode(rules.gamma_mode)
        side = "<" if option.right is Right.PUT else ">"
        assert option.underlying_price is not None
        why = (
            f"{option.dte} DTE ≤ {rules.gamma_dte} and in the money ({option.symbol} "
            f"{_money(option.underlying_price)} {side} the {option.strike:g} strike)"
        )
        if mode is RuleMode.ALERT:
            fired[ManagementRule.GAMMA] = (
                ManagementAction.HOLD,
                mode,
                why,
                f"gamma / assignment risk on {show_symbol(option.local_symbol)}: watch it",
            )
        else:
            fired[ManagementRule.GAMMA] = (ManagementAction.CLOSE, mode, why, _close_what(option))
    if (
        option.delta is not None
        and abs(option.delta) >= rules.assignment_delta - EPS
        and option.dte <= rules.assignment_dte
    ):
        mode = RuleMode(rules.assignment_mode)
        why = (
            f"|delta| {abs(option.delta):.2f} ≥ {rules.assignment_delta:.2f} at {option.dte} DTE "
            f"≤ {rules.assignment_dte}"
        )
        if mode is RuleMode.ALERT:
            what = f"assignment likely: let {show_symbol(option.local_symbol)} be assigned (the wheel)"
            fired[ManagementRule.ASSIGNMENT] = (ManagementAction.HOLD, mode, why, what)
        else:
            what = _roll_what(option, rules.roll_min_net_credit)
            fired[ManagementRule.ASSIGNMENT] = (ManagementAction.ROLL, mode, why, what)
    return [
        Trigger(rule, mode, action, why, what, _severity(rule, mode))
        for rule in PRIORITY
        if rule in fired
        for action, mode, why, what in [fired[rule]]
    ]


@dataclass(frozen=True)
class RollCandidate:
    """A listed option a roll could sell: ``bid``/``ask`` dollars per share (``None``: no quote), ``delta``
    per share, signed (``None``: no model greeks), ``dte`` calendar days (TWS's clock)."""

    con_id: int
    local_symbol: str
    expiry: str
    strike: float
    right: Right
    bid: float | None
    ask: float | None
    delta: float | None
    dte: int

    @property
    def mid(self) -> float | None:
        """The bid/ask midpoint (dollars per share), ``None`` without a two-sided quote."""
        return mid(self.bid, self.ask)


def roll_net_credit(option: ShortOption, candidate: RollCandidate) -> float | None:
    """Net credit per share of rolling ``option`` into ``candidate``: the new leg's mid − the old leg's
    mark (mid). Mid-based on both legs because the executor prices the combo at its mid and walks towards
    the natural price only as far as the intent's floor (the minimum net credit); ``None`` without quotes."""
    new, old = candidate.mid, option.mark
    if new is None or old is None:
        return None
    return new - old


def choose_roll(
    option: ShortOption,
    candidates: Iterable[RollCandidate],
    entry_rules: EntryRules,
    min_net_credit: float,
) -> RollCandidate | None:
    """The option to roll ``option`` into, or ``None`` when none qualifies.

    A candidate qualifies when it has the same right, a later expiry, a DTE within the entry rules'
    ``[dte_min, dte_max]`` (calendar days), the same or a better strike (put: ≤ the old strike, call: ≥
    it: never worse for the wheel) and a net credit (:func:`roll_net_credit`, dollars per share) of at
    least ``min_net_credit``. Among those: |delta| nearest ``entry_rules.delta_target`` first (a candidate
    without a delta last), then the larger net credit, then the nearer expiry.
    """
    ranked: list[tuple[float, float, int, RollCandidate]] = []
    put = option.right is Right.PUT
    for c in candidates:
        if c.right is not option.right or c.expiry <= option.expiry:
            continue
        if not entry_rules.dte_min <= c.dte <= entry_rules.dte_max:
            continue
        if (c.strike > option.strike + EPS) if put else (c.strike < option.strike - EPS):
            continue
        net = roll_net_credit(option, c)
        if net is None or net < min_net_credit - EPS:
            continue
        distance = abs(abs(c.delta) - entry_rules.delta_target) if c.delta is not None else math.inf
        ranked.append((distance, -net, c.dte, c))
    if not ranked:
        return None
    ranked.sort(key=lambda r: r[:3])
    return ranked[0][3]


def to_decision(
    option: ShortOption, trigger: Trigger, rules: ManagementRules, roll: RollCandidate | None = None
) -> Decision:
    """The :class:`shared.trade.Decision` for ``trigger`` on ``option``, with every number that decided it.

    ``limit`` (dollars per share): a close's maximum debit is the ask when decided (the executor starts at
    the mid and walks towards the ask, never past it; ``None`` without an ask); a roll's minimum net credit
    is ``rules.roll_min_net_credit``. A roll trigger without a ``roll`` target becomes a close and its
    reason says that no roll for at least that net credit was found; alert-mode decisions keep the
    rule's action (what the user is told to do) with the same numbers.
    """
    action, what = trigger.action, trigger.what
    limit: float | None = None
    net: float | None = None
    if action is ManagementAction.ROLL and roll is not None:
        net = roll_net_credit(option, roll)
        assert net is not None
        limit = rules.roll_min_net_credit
        delta = "–" if roll.delta is None else f"{roll.delta:.2f}"
        old, new_leg = show_symbol(option.local_symbol), show_symbol(roll.local_symbol)
        what = (
            f"roll {old} → {new_leg} ({roll.dte} DTE, delta {delta}) "
            f"for {_money(net)}/share net credit (≥ {_money(limit)})"
        )
    elif action is ManagementAction.ROLL and trigger.mode is not RuleMode.ALERT:
        action = ManagementAction.CLOSE
        what = (
            f"no roll for ≥ {_money(rules.roll_min_net_credit)}/share net credit found: "
            f"{_close_what(option)} instead"
        )
    elif action is ManagementAction.ROLL:
        limit = rules.roll_min_net_credit
    if action is ManagementAction.CLOSE and option.ask is not None and is_price(option.ask):
        limit = option.ask
    new = roll if action is ManagementAction.ROLL else None
    return Decision(
        rule=trigger.rule,
        mode=trigger.mode,
        action=action,
        symbol=option.symbol,
        con_id=option.con_id,
        local_symbol=option.local_symbol,
        right=option.right,
        strike=option.strike,
        expiry=option.expiry,
        contracts=option.contracts,
        credit=option.credit,
        mark=option.mark,
        profit_fraction=option.profit_fraction,
        dte=option.dte,
        delta=option.delta,
        underlying_price=option.underlying_price,
        itm=option.itm,
        reason=f"{trigger.why}: {what}",
        severity=trigger.severity,
        limit=limit,
        new_con_id=new.con_id if new else None,
        new_local_symbol=new.local_symbol if new else None,
        new_expiry=new.expiry if new else None,
        new_strike=new.strike if new else None,
        net_credit=net,
    )
