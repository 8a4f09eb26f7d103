"""Parsers for client → server requests, mirroring ib_async ``client.py`` field by field per version."""

from __future__ import annotations

from dataclasses import dataclass

from .orderreq import ComboLegReq, ContractReq, OrderReq  # noqa: F401 - re-exported
from .protocol import UNSET_DOUBLE, FieldReader


def read_contract(r: FieldReader) -> ContractReq:
    """Read the 12 contract fields: conId … tradingClass."""
    c = ContractReq()
    c.con_id = r.integer()
    c.symbol = r.text().upper()
    c.sec_type = r.text().upper()
    c.expiry = r.text().replace("-", "")
    c.strike = r.number()
    c.right = normalize_right(r.text())
    c.multiplier = r.text()
    c.exchange = r.text()
    c.primary_exchange = r.text()
    c.currency = r.text()
    c.local_symbol = r.text()
    c.trading_class = r.text()
    if c.strike == UNSET_DOUBLE:
        c.strike = 0.0
    return c


def normalize_right(right: str) -> str:
    """Map ``PUT``/``CALL``/``P``/``C`` (any case) to ``P``/``C``; anything else to ''."""
    r = right.strip().upper()
    if r in ("P", "PUT"):
        return "P"
    if r in ("C", "CALL"):
        return "C"
    return ""


def read_place_order(r: FieldReader, version: int) -> OrderReq:
    """Parse placeOrder (msg 3) after the message id, following ``client.placeOrder`` at ``version``.

    Parsing stops after ``whatIf`` (conditions and later fields are not needed).
    """
    order_id = r.integer()
    contract = read_contract(r)
    o = OrderReq(order_id=order_id, contract=contract)
    r.skip(2)  # secIdType, secId
    o.action = r.text().upper()
    o.total_quantity = r.number()
    o.order_type = r.text().upper()
    o.lmt_price = r.number(UNSET_DOUBLE)
    o.aux_price = r.number(UNSET_DOUBLE)
    o.tif = r.text().upper()
    o.oca_group = r.text()
    o.account = r.text()
    o.open_close = r.text()
    o.origin = r.integer()
    o.order_ref = r.text()
    o.transmit = r.flag()
    o.parent_id = r.integer()
    r.skip(4)  # blockOrder, sweepToFill, displaySize, triggerMethod
    o.outside_rth = r.flag()
    o.hidden = r.flag()
    if contract.sec_type == "BAG":
        for _ in range(r.integer()):
            o.combo_legs.append(
                ComboLegReq(
                    r.integer(),
                    r.integer(),
                    r.text().upper(),
                    r.text(),
                    r.integer(),
                    r.integer(),
                    r.text(),
                    r.integer(-1),
                )
            )
        o.order_combo_prices = [r.number(UNSET_DOUBLE) for _ in range(r.integer())]
        o.smart_combo_params = [(r.text(), r.text()) for _ in range(r.integer())]
    r.skip(1)  # deprecated sharesAllocation
    r.skip(2)  # discretionaryAmt, goodAfterTime
    o.good_till_date = r.text()
    r.skip(3)  # faGroup, faMethod, faPercentage
    if version < 177:
        r.skip(1)  # faProfile
    # modelCode … deltaNeutralAuxPrice: 24 fields
    r.skip(22)
    delta_neutral_type = r.text()
    r.skip(1)  # deltaNeutralAuxPrice
    if delta_neutral_type:
        r.skip(8)
    r.skip(6)  # continuousUpdate … scaleSubsLevelSize
    scale_increment = r.number(UNSET_DOUBLE)
    if 0 < scale_increment < UNSET_DOUBLE:
        r.skip(7)
    r.skip(3)  # scaleTable, activeStartTime, activeStopTime
    if r.text():  # hedgeType
        r.skip(1)
    r.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if r.flag():  # deltaNeutralContract present
        r.skip(3)
    o.algo_strategy = r.text()
    if o.algo_strategy:
        for _ in range(r.integer()):
            o.algo_params.append((r.text(), r.text()))
    r.skip(1)  # algoId
    o.what_if = r.flag()
    return o


@dataclass
class ExecFilter:
    """reqExecutions filter; empty/zero members match anything."""

    client_id: int = 0
    acct_code: str = ""
    time: str = ""  # "YYYYMMDD HH:MM:SS" (or "YYYYMMDD-HH:MM:SS"), executions at or after it
    symbol: str = ""
    sec_type: str = ""
    exchange: str = ""
    side: str = ""


def read_exec_filter(r: FieldReader) -> ExecFilter:
    """Parse the 7 filter fields of reqExecutions (after msgId, version, reqId)."""
    return ExecFilter(
        client_id=r.integer(),
        acct_code=r.text(),
        time=r.text(),
        symbol=r.text().upper(),
        sec_type=r.text().upper(),
        exchange=r.text().upper(),
        side=r.text().upper(),
    )


@dataclass
class HistReq:
    """reqHistoricalData (msg 20) fields the simulator uses."""

    req_id: int
    contract: ContractReq
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool


def read_historical(r: FieldReader) -> HistReq:
    """Parse reqHistoricalData after the message id (no version field at these server versions)."""
    req_id = r.integer()
    contract = read_contract(r)
    r.skip(1)  # includeExpired
    end = r.text()
    bar_size = r.text()
    duration = r.text()
    use_rth = r.flag()
    what = r.text().upper()
    format_date = r.integer(1)
    if contract.sec_type == "BAG":
        r.skip(4 * r.integer())
    keep = r.flag()
    return HistReq(req_id, contract, end, bar_size, duration, use_rth, what, format_date, keep)
