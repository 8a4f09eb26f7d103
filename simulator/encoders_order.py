"""Server → client builders for orders and executions: orderStatus, execDetails, commissionReport.

Layouts follow ib_async ``decoder.py`` and IB's ``ibapi/decoder.py``; prices in dollars per share, commissions
in dollars, quantities in shares or contracts.
"""

from __future__ import annotations

from datetime import datetime

from .encoders_account import UNSET_TEXT, money_or_unset
from .encoders_base import Fields, Spec, contract11, tws_time
from .protocol import Out


def order_status(
    order_id: int,
    status: str,
    filled: float,
    remaining: float,
    avg_fill_price: float,
    perm_id: int,
    parent_id: int,
    last_fill_price: float,
    client_id: int,
    why_held: str = "",
    mkt_cap_price: float = 0.0,
) -> Fields:
    """orderStatus (3): 12 fields, no version."""
    return [
        Out.ORDER_STATUS,
        order_id,
        status,
        filled,
        remaining,
        avg_fill_price,
        perm_id,
        parent_id,
        last_fill_price,
        client_id,
        why_held,
        mkt_cap_price,
    ]


def exec_details(
    req_id: int,
    version: int,
    order_id: int,
    spec: Spec,
    exec_id: str,
    ts: datetime,
    account: str,
    exchange: str,
    side: str,
    shares: float,
    price: float,
    perm_id: int,
    client_id: int,
    cum_qty: float,
    avg_price: float,
    order_ref: str,
) -> Fields:
    """execDetails (11): 31 fields (+ pendingPriceRevision at ≥ 178); reqId −1 for live fills."""
    fields: Fields = [
        Out.EXECUTION_DATA,
        req_id,
        order_id,
        *contract11(spec, exchange=exchange),
        exec_id,
        tws_time(ts),
        account,
        exchange,
        side,
        shares,
        price,
        perm_id,
        client_id,
        0,
        cum_qty,
        avg_price,
        order_ref,
        "",
        "",
        "",
        2,
    ]
    if version >= 178:
        fields.append(False)
    return fields


def exec_details_end(req_id: int) -> Fields:
    """execDetailsEnd (55)."""
    return [Out.EXECUTION_DATA_END, 1, req_id]


def commission_report(exec_id: str, commission: float, realized_pnl: float | None) -> Fields:
    """commissionReport (59): exactly 8 fields. realizedPNL and yield are TWS's literal unset double when
    not applicable (opening executions), yieldRedemptionDate 0 — as a real TWS writes them."""
    return [
        Out.COMMISSION_REPORT,
        1,
        exec_id,
        round(commission, 4),
        "USD",
        money_or_unset(realized_pnl, 4),
        UNSET_TEXT,
        0,
    ]
