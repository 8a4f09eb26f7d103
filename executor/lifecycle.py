"""How the executor settles an intent it finds unfinished after a restart or a reconnection, and what a
broker rejection looks like. Pure functions over plain values (no I/O, no TWS).

An intent the executor owns is ``placing`` (claimed; an order may or may not have reached TWS) or
``working`` (an order was sent). After a restart, a dropped connection or a TWS restart, the executor
looks up the intent's orderRef at TWS — open orders of every client, the day's completed orders and the
day's executions — and :func:`resolve` decides:

1. executions for the full quantity → ``filled``;
2. an open order → ``working`` (adopted: the order row is written if it was lost);
3. a completed (cancelled / inactive) order → ``cancelled`` (or ``filled`` when it filled);
4. part filled and no longer working → ``cancelled`` with the filled part named;
5. TWS has neither an order nor an execution, and the order was never acknowledged by TWS (no order
   row, or its row still says ``PendingSubmit``) → ``approved`` again: placing it cannot double it;
6. TWS has neither, but it had acknowledged the order once → ``cancelled``: it was cancelled at TWS or
   expired at the close; it is never placed again behind the user's back.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.ibcodes import tip
from shared.trade import DONE_ORDER_STATUSES, Intent, IntentStatus, OrderStatus

#: IB codes that end an order without it being a rejection (a cancel confirmation).
NOT_REJECTIONS = frozenset({202})


@dataclass(frozen=True)
class AtTws:
    """What TWS knows about one orderRef. ``filled`` contracts (or shares) executed today; ``open_status``
    the IB status of a working order (``None``: none open); ``completed_status`` that of a completed one."""

    filled: float = 0.0
    open_status: str | None = None
    completed_status: str | None = None


@dataclass(frozen=True)
class Resolution:
    """The intent's new status and the one-line reason stored with it."""

    status: IntentStatus
    reason: str


def resolve(intent: Intent, order_row_status: str | None, tws: AtTws) -> Resolution:
    """Decide an unfinished intent's status from what TWS knows (see the module docstring).

    ``order_row_status`` is the IB status stored in the intent's ``orders`` row (``None``: no row)."""
    qty = intent.quantity
    if tws.filled >= qty - 1e-9:
        return Resolution(IntentStatus.FILLED, f"filled {tws.filled:g} of {qty} at TWS")
    if tws.open_status is not None and tws.open_status not in DONE_ORDER_STATUSES:
        return Resolution(IntentStatus.WORKING, f"order working at TWS ({tws.open_status})")
    if tws.completed_status is not None:
        return Resolution(
            IntentStatus.CANCELLED,
            f"order {tws.completed_status} at TWS; {tws.filled:g} of {qty} filled",
        )
    if tws.filled > 0:
        return Resolution(
            IntentStatus.CANCELLED, f"{tws.filled:g} of {qty} filled; the rest is no longer working at TWS"
        )
    if order_row_status is None:
        return Resolution(IntentStatus.APPROVED, "re-queued: the executor stopped before sending an order")
    if order_row_status == OrderStatus.PENDING_SUBMIT:
        return Resolution(
            IntentStatus.APPROVED,
            "re-queued: TWS has no order and no execution for it (the executor stopped before sending it)",
        )
    return Resolution(
        IntentStatus.CANCELLED,
        f"the order ({order_row_status} when last seen) is no longer at TWS and never filled: cancelled at "
        "TWS or expired at the close",
    )


def rejection_reason(error_code: int | None, message: str) -> str | None:
    """The readable reason when an order was ended by a broker error (``None`` for no error or a cancel
    confirmation): the IB code with thetawheel's cause and fix, not TWS's raw capitals."""
    if not error_code or error_code in NOT_REJECTIONS:
        return None
    detail = message.split(":", 1)[-1].strip() if message else ""
    text = f"IB {error_code}: {tip(error_code)}"
    if detail and error_code not in (200,):
        text += f" (TWS: {detail[:200].capitalize()})"
    return text
