"""The simulated account's records: orders, executions, positions and IB's commission schedule.

Units follow TWS: prices are dollars per share; ``Position.avg_cost`` is dollars per share for stock and
dollars per CONTRACT (price × multiplier) for options, commissions included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from .contracts import Mark, Spec, is_option  # noqa: F401 - Mark re-exported
from .protocol import UNSET_DOUBLE

WORKING = ("PreSubmitted", "Submitted")


class OrderRejected(Exception):
    """An order the broker refuses; ``code`` is the TWS error code (201, 103, 10xxx…)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class SimOrder:
    """A working or finished order. ``lmt_price`` in dollars per share; ``quantity`` in shares/contracts."""

    order_id: int
    client_id: int
    perm_id: int
    spec: Spec
    action: str
    quantity: float
    order_type: str
    lmt_price: float
    account: str
    aux_price: float = UNSET_DOUBLE
    tif: str = "DAY"
    oca_group: str = ""
    open_close: str = ""
    origin: int = 0
    order_ref: str = ""
    outside_rth: bool = False
    hidden: bool = False
    transmit: bool = True
    parent_id: int = 0
    good_till_date: str = ""
    algo_strategy: str = ""
    algo_params: list[tuple[str, str]] = field(default_factory=list)
    status: str = "PreSubmitted"
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    commission: float = 0.0
    placed_at: float = field(default_factory=time.monotonic)
    completed_time: str = ""  # "YYYYMMDD HH:MM:SS US/Eastern" once Filled or Cancelled (reqCompletedOrders)

    @property
    def remaining(self) -> float:
        """Unfilled quantity."""
        return max(0.0, self.quantity - self.filled)

    @property
    def working(self) -> bool:
        """True while the order can still fill."""
        return self.status in WORKING

    @property
    def commission_or_unset(self) -> float | None:
        """Total commission once filled (dollars), else None (sent as UNSET)."""
        return round(self.commission, 4) if self.filled > 0 else None


@dataclass
class SimExecution:
    """One fill. ``price`` dollars per share; ``commission`` dollars for the whole execution."""

    exec_id: str
    order: SimOrder
    time: datetime
    side: str  # "BOT" / "SLD"
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    commission: float
    realized_pnl: float | None
    exchange: str


@dataclass
class Position:
    """Signed quantity and TWS-convention average cost (per share STK, per contract OPT)."""

    spec: Spec
    qty: float = 0.0
    avg_cost: float = 0.0
    realized_pnl: float = 0.0


def commission_for(spec: Spec, qty: float, price: float) -> float:
    """IBKR Pro fixed schedule in dollars: options $0.65/contract (min $1.00 per order); stock $0.005/share,
    min $1.00, max 1 % of trade value."""
    qty = abs(qty)
    if is_option(spec):
        return round(max(1.0, 0.65 * qty), 2)
    value = qty * price
    fee = max(1.0, 0.005 * qty)
    if value > 0:
        fee = min(fee, 0.01 * value)
    return round(fee, 4)
