"""The typed trade model: one class per concept, one enum per set of statuses, defined once.

Every process reads these; each table has one writer (docs/architecture.md). Units, as in
:mod:`shared.schema`: prices are dollars per share, premiums and commissions are dollars (for the
whole quantity), quantities are contracts (options) or shares (stock), deltas are per share.

Life of an intent (:class:`IntentStatus`)::

    (proposed →) approved → placing → working → filled
                  │          └──→ cancelled | rejected
                  └──→ failed | rejected

``approved`` is written by whoever creates the intent (the dashboard on a click, the monitor for a
management rule in ``auto`` mode); the executor moves it on. A management rule in ``approve`` mode writes
its intent ``proposed``: it waits for the user's click (approved) or rejection (cancelled).
:data:`ACTIVE_INTENT_STATUSES` is the single definition
of "still leads, or may lead, to an order": at most one active intent per contract.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: Shares one standard US equity option contract delivers (a lot).
SHARES_PER_CONTRACT = 100


def uncovered_contracts(
    shares: float, short_calls: float, pending_calls: float, lot: int = SHARES_PER_CONTRACT
) -> int:
    """Covered calls the shares still allow: ``floor((shares − lot × |short_calls| − lot × |pending_calls|)
    / lot)``, never below 0 (the one definition the scanner, dashboard and executor share).

    ``shares`` held (negative when short: none); ``short_calls`` contracts held short on the shares (sign
    ignored); ``pending_calls`` contracts of call orders or active ``sell_call`` intents that will become
    short calls. Example: 250 shares, 1 short call, none pending → floor(150 / 100) = 1. Float noise of
    1e-9 of a lot is forgiven (299.99999999 shares are 300).
    """
    free = shares - lot * abs(short_calls) - lot * abs(pending_calls)
    return max(0, math.floor(free / lot + 1e-9))


class IntentKind(StrEnum):
    """What an intent asks the executor to do."""

    SELL_PUT = "sell_put"  # open a cash-secured put
    SELL_CALL = "sell_call"  # open a covered call on shares held
    BUY_TO_CLOSE = "buy_to_close"  # close a short option
    ROLL = "roll"  # one combo order: buy to close the old leg, sell to open the new one


class IntentStatus(StrEnum):
    """Where an intent is in its life (see the module docstring)."""

    PROPOSED = "proposed"  # a management rule's intent waiting for the user's click
    APPROVED = "approved"
    PLACING = "placing"
    WORKING = "working"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    FAILED = "failed"


#: Intent statuses that still lead (or may lead) to an order. One per contract at a time.
ACTIVE_INTENT_STATUSES: frozenset[IntentStatus] = frozenset(
    {IntentStatus.APPROVED, IntentStatus.PLACING, IntentStatus.WORKING}
)
#: Statuses of an intent not yet ended, proposals included: a position with one gets no second proposal.
OPEN_INTENT_STATUSES: frozenset[IntentStatus] = ACTIVE_INTENT_STATUSES | {IntentStatus.PROPOSED}
#: Active statuses in which the executor owns the intent (it claimed it).
EXECUTOR_INTENT_STATUSES: frozenset[IntentStatus] = frozenset({IntentStatus.PLACING, IntentStatus.WORKING})


class OrderStatus(StrEnum):
    """IB's order statuses (``orderStatus.status``), as TWS spells them."""

    PENDING_SUBMIT = "PendingSubmit"
    PENDING_CANCEL = "PendingCancel"
    PRE_SUBMITTED = "PreSubmitted"
    SUBMITTED = "Submitted"
    API_PENDING = "ApiPending"
    API_CANCELLED = "ApiCancelled"
    CANCELLED = "Cancelled"
    FILLED = "Filled"
    INACTIVE = "Inactive"


#: IB order statuses after which nothing more happens to an order.
DONE_ORDER_STATUSES: frozenset[str] = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.API_CANCELLED, OrderStatus.INACTIVE}
)


class Action(StrEnum):
    """An order leg's direction."""

    BUY = "BUY"
    SELL = "SELL"


class Right(StrEnum):
    """An option's right."""

    PUT = "P"
    CALL = "C"


class Side(StrEnum):
    """An execution's side as IB reports it."""

    BOUGHT = "BOT"
    SOLD = "SLD"


class Strategy(StrEnum):
    """An opportunity's strategy: cash-secured put or covered call."""

    CSP = "CSP"
    CC = "CC"


class CycleStage(StrEnum):
    """Where a wheel cycle is: a short put, shares, shares with a short call, or closed."""

    PUT = "put"
    SHARES = "shares"
    SHARES_CALL = "shares+call"
    CLOSED = "closed"


class ExecutionSource(StrEnum):
    """Where a row of the ``executions`` table came from."""

    TWS = "tws"  # reported by TWS (execDetails / reqExecutions), with or without an orderRef
    EXPIRY = "expiry"  # an option that lapsed: TWS reports no trade, the monitor books it at price 0
    INFERRED = "inferred"  # an assignment seen only in the positions (its executions were not reported)
    OPENING = "opening"  # shares held before thetawheel started, at TWS's average cost


class LegKind(StrEnum):
    """What one cycle leg did."""

    SELL_PUT = "sell_put"
    BUY_PUT = "buy_put"
    PUT_EXPIRED = "put_expired"
    PUT_ASSIGNED = "put_assigned"
    SELL_CALL = "sell_call"
    BUY_CALL = "buy_call"
    CALL_EXPIRED = "call_expired"
    CALL_ASSIGNED = "call_assigned"
    SHARES_ASSIGNED = "shares_assigned"  # shares bought at the strike by a put assignment
    SHARES_CALLED_AWAY = "shares_called_away"  # shares sold at the strike by a call assignment
    SHARES_BOUGHT = "shares_bought"
    SHARES_SOLD = "shares_sold"
    SHARES_OPENING = "shares_opening"  # held before thetawheel, at TWS's average cost


@dataclass(frozen=True)
class Leg:
    """One leg of an intent or order. ``ratio`` is contracts (or shares) per unit of the order."""

    con_id: int
    action: Action
    ratio: int
    local_symbol: str
    sec_type: str = "OPT"
    symbol: str = ""
    expiry: str | None = None  # YYYYMMDD
    strike: float | None = None  # dollars per share
    right: Right | None = None


@dataclass(frozen=True)
class Intent:
    """A decision that an order should exist, keyed by ``key`` (the order's orderRef).

    ``quantity`` is contracts (or shares) and positive; ``limit_floor`` dollars per share: the
    minimum credit for a SELL, the maximum debit for a BUY (``None``: no floor). ``legs`` has one leg
    for a single-contract order and two for a roll.
    """

    id: int
    key: str
    source: str
    kind: IntentKind
    action: Action
    sec_type: str
    symbol: str
    con_id: int
    local_symbol: str
    expiry: str | None
    strike: float | None
    right: Right | None
    quantity: int
    limit_floor: float | None
    status: IntentStatus
    status_reason: str
    created_at: str
    updated_at: str
    opportunity_id: int | None = None
    legs: tuple[Leg, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any], legs: tuple[Leg, ...] = ()) -> Intent:
        """Build from an ``intents`` row; without ``legs`` the intent's own contract is its one leg.

        Raises ``ValueError`` naming the column when a kind, status, action or right is unknown."""
        try:
            kind = IntentKind(row["kind"])
            status = IntentStatus(row["status"])
            action = Action(row["action"])
            right = Right(row["right"]) if row["right"] else None
        except ValueError as err:
            raise ValueError(f"intent {row.get('key')!r}: {err}") from None
        if not legs:
            legs = (
                Leg(
                    con_id=int(row["con_id"]),
                    action=action,
                    ratio=1,
                    local_symbol=str(row["local_symbol"]),
                    sec_type=str(row["sec_type"]),
                    symbol=str(row["symbol"]),
                    expiry=row["expiry"],
                    strike=row["strike"],
                    right=right,
                ),
            )
        return cls(
            id=int(row["id"]),
            key=str(row["key"]),
            source=str(row["source"]),
            kind=kind,
            action=action,
            sec_type=str(row["sec_type"]),
            symbol=str(row["symbol"]),
            con_id=int(row["con_id"]),
            local_symbol=str(row["local_symbol"]),
            expiry=row["expiry"],
            strike=row["strike"],
            right=right,
            quantity=int(row["quantity"]),
            limit_floor=row["limit_floor"],
            status=status,
            status_reason=str(row["status_reason"] or ""),
            created_at=str(row["created_at"]),
            updated_at=str(row["updated_at"]),
            opportunity_id=row.get("opportunity_id"),
            legs=legs,
        )


@dataclass(frozen=True)
class Order:
    """The order placed for an intent (one per intent). ``limit_price`` dollars per share (net for a
    combo: negative is a credit, as IB sends it); ``quantity``/``filled`` contracts or shares."""

    intent_key: str
    order_id: int | None
    perm_id: int | None
    client_id: int | None
    action: Action
    quantity: float
    limit_price: float | None
    status: str
    filled: float
    legs: tuple[Leg, ...]


@dataclass(frozen=True)
class Execution:
    """One execution of one contract (a row of ``executions``), as TWS reported it or the monitor booked it.

    ``quantity`` is positive (contracts or shares) and ``side`` gives the direction; ``price`` dollars per
    share; ``commission`` dollars (``None`` until IB's report arrives); ``multiplier`` shares per contract
    (1 for stock). ``order_ref`` is empty for TWS's own executions (assignment, exercise: orderId 0,
    price 0). ``time`` is ISO-8601 UTC.
    """

    exec_id: str
    source: ExecutionSource
    time: str
    symbol: str
    sec_type: str  # STK | OPT
    con_id: int
    local_symbol: str
    side: Side
    quantity: float
    price: float
    multiplier: int = 1
    expiry: str | None = None
    strike: float | None = None
    right: Right | None = None
    commission: float | None = None
    order_ref: str = ""
    order_id: int = 0
    perm_id: int = 0

    @property
    def signed_quantity(self) -> float:
        """+quantity when bought, −quantity when sold."""
        return self.quantity if self.side is Side.BOUGHT else -self.quantity

    @property
    def cash(self) -> float:
        """Cash flow in dollars before commission: + when sold, − when bought (price × qty × multiplier)."""
        return -self.signed_quantity * self.price * self.multiplier


@dataclass(frozen=True)
class CycleLeg:
    """One booked leg of a wheel cycle. ``premium`` dollars (+ credit, − debit; options only),
    ``commission`` dollars, ``price`` dollars per share, ``quantity`` contracts or shares (positive)."""

    kind: LegKind
    exec_id: str
    time: str
    con_id: int
    local_symbol: str
    quantity: float
    price: float
    premium: float
    commission: float
    expiry: str | None = None
    strike: float | None = None
    right: Right | None = None


@dataclass
class Cycle:
    """One wheel cycle of one symbol, from the first put sold (or shares held) to the shares called away.

    Money in dollars unless said otherwise. ``premiums`` is the net option premium (credits − debits);
    ``assignment_cost`` what the shares cost (shares × price); ``stock_pnl`` sale proceeds − cost of
    shares sold; ``realized_pnl`` = stock P&L + premiums − commissions on a closed cycle, and premiums −
    commissions so far on an open one. ``adjusted_cost_basis`` dollars per share = (assignment cost −
    net premiums + commissions) ÷ shares held (``None`` without shares). ``collateral`` the most capital the
    cycle tied up (put strike × 100 × contracts, or the shares' cost). ``annualized_return`` fraction =
    realized P&L ÷ collateral × 365 ÷ days open (days at least 1).
    """

    symbol: str
    started_at: str
    stage: CycleStage = CycleStage.PUT
    closed_at: str | None = None
    shares: float = 0.0
    assigned_shares: float = 0.0
    assignment_price: float | None = None
    assignment_cost: float = 0.0
    premiums: float = 0.0
    commissions: float = 0.0
    stock_pnl: float = 0.0
    realized_pnl: float = 0.0
    adjusted_cost_basis: float | None = None
    collateral: float = 0.0
    days_open: int = 0
    annualized_return: float | None = None
    preexisting: bool = False
    legs: list[CycleLeg] = field(default_factory=list)


class ManagementRule(StrEnum):
    """A management rule watching an open short option (wheel-rules "Management")."""

    PROFIT_TAKE = "profit_take"  # profit ≥ 50 % of the credit → buy to close (tastytrade)
    DTE_ROLL = "dte_roll"  # DTE ≤ 21 → roll out for a net credit, else close (tastytrade "21 DTE")
    STOP_LOSS = "stop_loss"  # loss ≥ 2 × credit → close or defensive roll (tastytrade 2× credit stop)
    ASSIGNMENT = "assignment"  # |delta| ≥ 0.50 near expiry → alert, let it be assigned (wheel practice)
    GAMMA = "gamma"  # DTE ≤ 7 and in the money → gamma / assignment-risk alert (ibkr-options-income)


class RuleMode(StrEnum):
    """How a management rule acts: tell only, propose an intent that waits for a click, or approve it."""

    ALERT = "alert"
    APPROVE = "approve"
    AUTO = "auto"


class ManagementAction(StrEnum):
    """What a management decision asks for."""

    CLOSE = "close"  # buy to close the short option
    ROLL = "roll"  # one combo order: buy to close, sell to open a later expiry
    HOLD = "hold"  # nothing to trade: an alert only (e.g. let it be assigned)


class DecisionStatus(StrEnum):
    """Where a management decision is. ``pending`` and ``approved`` are open: at most one open decision per
    position and rule. ``alerted``, ``rejected`` and ``filled`` are final for that position and rule (the
    rule does not fire again for it); ``lapsed`` (its order ended unfilled, or the position went first)
    lets the rule fire again if its trigger still holds."""

    PENDING = "pending"  # approve mode: its intent is proposed, waiting for the user's click
    APPROVED = "approved"  # its intent is approved (by the click or auto mode) and goes to the executor
    ALERTED = "alerted"  # alert mode (or an alert-only rule): told, nothing traded
    REJECTED = "rejected"  # the user rejected it
    FILLED = "filled"  # its intent filled
    LAPSED = "lapsed"  # its intent ended unfilled, or the position was gone before it acted


#: Decision statuses that are still open (one per position and rule).
OPEN_DECISION_STATUSES: frozenset[DecisionStatus] = frozenset(
    {DecisionStatus.PENDING, DecisionStatus.APPROVED}
)
#: Decision statuses after which the rule does not fire again for the same position.
FINAL_DECISION_STATUSES: frozenset[DecisionStatus] = frozenset(
    {DecisionStatus.ALERTED, DecisionStatus.REJECTED, DecisionStatus.FILLED}
)


class CommandKind(StrEnum):
    """A user's command recorded by the dashboard (who and when) for a process to act on."""

    HALT = "halt"  # stop opening positions (closing and rolling still allowed)
    RESUME = "resume"  # lift the user's halt
    REJECT_OPPORTUNITY = "reject_opportunity"  # hide a contract from the opportunities (until its expiry)
    SCAN_NOW = "scan_now"  # the scanner claims it (pending → done) and scans at once
    CANCEL_ORDER = "cancel_order"  # the executor cancels the order of ``intent_key`` at TWS (pending → done)


@dataclass(frozen=True)
class Decision:
    """A management rule's decision on one open short option, with every number that decided it.

    Money: ``credit`` and ``mark`` dollars per share (``credit`` the opening price, ``mark`` the cost to
    close now: the mid); ``profit_fraction`` = (credit − mark) ÷ credit (negative is a loss: −2 is a loss of
    2 × the credit); ``dte`` calendar days; ``delta`` per share, signed; ``underlying_price`` dollars per
    share; ``itm`` whether the underlying is through the strike. For a roll, ``new_*`` name the new leg and
    ``net_credit`` its net credit per share (new leg's bid − old leg's ask … as quoted when decided).
    ``reason`` is the one line the user reads.
    """

    rule: ManagementRule
    mode: RuleMode
    action: ManagementAction
    symbol: str
    con_id: int
    local_symbol: str
    right: Right
    strike: float
    expiry: str
    contracts: int
    credit: float
    mark: float | None
    profit_fraction: float | None
    dte: int
    delta: float | None
    underlying_price: float | None
    itm: bool
    reason: str
    severity: str = "warning"
    limit: float | None = None  # dollars per share: max debit of a close, min net credit of a roll
    new_con_id: int | None = None
    new_local_symbol: str | None = None
    new_expiry: str | None = None
    new_strike: float | None = None
    net_credit: float | None = None
