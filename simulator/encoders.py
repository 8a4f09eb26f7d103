"""Server → client message builders (except openOrder, see ``openorder.py``).

Every layout mirrors ib_async ``decoder.py`` at the negotiated server version. Builders return field lists;
``protocol.encode`` frames them. Prices are dollars per share unless stated otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Union
from zoneinfo import ZoneInfo

from .protocol import Field, Out

if TYPE_CHECKING:
    from .market import Bar, OptionSpec, StockSpec

Spec = Union["StockSpec", "OptionSpec"]
Fields = list[Field]

EASTERN = ZoneInfo("US/Eastern")
STK_ORDER_TYPES = (
    "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AVGCOST,BASKET,BENCHPX,COND,CONDORDER,DARKONLY,DARKPOLL,DAY,"
    "DEACT,DEACTDIS,DEACTEOD,DIS,GAT,GTC,GTD,GTT,HID,IBKRATS,ICE,IMB,IOC,LIT,LMT,LOC,MIDPX,MIT,MKT,MOC,"
    "MTL,NGCOMB,NODARK,NONALGO,OCA,OPG,OPGREROUT,PEGBENCH,PEGMID,POSTATS,POSTONLY,PREOPGRTH,PRICECHK,REL,"
    "REL2MID,RELPCTOFS,RPI,RTH,SCALE,SCALEODD,SCALERST,SIZECHK,SNAPMID,SNAPMKT,SNAPREL,STP,STPLMT,SWEEP,"
    "TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF"
)
OPT_ORDER_TYPES = (
    "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AVGCOST,BASKET,COND,CONDORDER,DAY,DEACT,DEACTDIS,DEACTEOD,DIS,"
    "GAT,GTC,GTD,GTT,HID,ICE,IOC,LIT,LMT,MIT,MKT,MTL,NGCOMB,NONALGO,OCA,OPENCLOSE,PEGMIDVOL,PEGMKTVOL,"
    "PEGPRMVOL,PEGSRFVOL,POSTONLY,PRICECHK,REL,REL2MID,RELPCTOFS,RTH,SCALE,SCALERST,SIZECHK,SNAPMID,"
    "SNAPMKT,SNAPREL,STP,STPLMT,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,VOLAT,WHATIF"
)
STK_EXCHANGES = (
    "SMART,AMEX,NYSE,CBOE,PHLX,ISE,CHX,ARCA,NASDAQ,DRCTEDGE,BEX,BATS,EDGEA,BYX,IEX,LTSE,MEMX,PEARL"
)
OPT_EXCHANGES = (
    "SMART,AMEX,CBOE,PHLX,PSE,ISE,BOX,BATS,NASDAQOM,CBOE2,NASDAQBX,MIAX,GEMINI,EDGX,MERCURY,"
    "PEARL,EMERALD,MEMX"
)
ETFS = frozenset({"SPY", "QQQ", "IWM", "DIA", "XLF", "XLE", "GLD", "TLT", "EEM"})


def is_option(spec: Spec) -> bool:
    """True for an OptionSpec (duck-typed on ``right``)."""
    return hasattr(spec, "right")


def sec_type(spec: Spec) -> str:
    """``"OPT"`` or ``"STK"``."""
    return "OPT" if is_option(spec) else "STK"


def multiplier(spec: Spec) -> int:
    """Contract multiplier (shares per contract): 100 for standard options, 1 for stock."""
    return int(getattr(spec, "multiplier", 1) or 1)


def contract11(spec: Spec, exchange: str = "SMART", primary: bool = False) -> Fields:
    """conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange(or primary), currency,
    localSymbol, tradingClass — the contract block of execDetails/position/openOrder/portfolioValue."""
    if is_option(spec):
        o: OptionSpec = spec  # type: ignore[assignment]
        exch = "" if primary else exchange
        return [
            o.con_id,
            o.symbol,
            "OPT",
            o.expiry,
            o.strike,
            o.right,
            str(o.multiplier),
            exch,
            "USD",
            o.local_symbol,
            o.trading_class,
        ]
    s: StockSpec = spec  # type: ignore[assignment]
    exch = s.primary_exchange if primary else exchange
    return [s.con_id, s.symbol, "STK", "", 0.0, "", "", exch, s.currency, s.symbol, s.symbol]


def to_eastern(ts: datetime) -> datetime:
    """Convert to US/Eastern; a naive datetime is taken to be Eastern already."""
    return ts.replace(tzinfo=EASTERN) if ts.tzinfo is None else ts.astimezone(EASTERN)


def tws_time(ts: datetime) -> str:
    """``"YYYYMMDD HH:MM:SS US/Eastern"`` (the format ib_async's parseIBDatetime reads with a zone)."""
    return to_eastern(ts).strftime("%Y%m%d %H:%M:%S") + " US/Eastern"


def error(req_id: int, code: int, msg: str, version: int, advanced: str = "") -> Fields:
    """error (4): ``4, 2, reqId, code, msg`` (+ advancedOrderRejectJson at ≥ 166)."""
    fields: Fields = [Out.ERR_MSG, 2, req_id, code, msg]
    if version >= 166:
        fields.append(advanced)
    return fields


def trading_hours(day: date, open_hm: str, close_hm: str, days: int = 5) -> str:
    """TWS-format session list: ``YYYYMMDD:HHMM-YYYYMMDD:HHMM;…`` with ``YYYYMMDD:CLOSED`` on weekends."""
    parts = []
    for i in range(days):
        d = day + timedelta(days=i)
        ds = d.strftime("%Y%m%d")
        parts.append(f"{ds}:CLOSED" if d.weekday() >= 5 else f"{ds}:{open_hm}-{ds}:{close_hm}")
    return ";".join(parts)


def contract_data(
    req_id: int, spec: Spec, version: int, today: date, long_name: str, under_con_id: int = 0
) -> Fields:
    """contractData (10): 39 fields below 164 (with version and mdSizeMultiplier), 40 at ≥ 164."""
    opt = is_option(spec)
    fields: Fields = [Out.CONTRACT_DATA]
    if version < 164:
        fields.append(8)
    fields.append(req_id)
    if opt:
        o: OptionSpec = spec  # type: ignore[assignment]
        fields += [
            o.symbol,
            "OPT",
            o.expiry,
            o.strike,
            o.right,
            "SMART",
            "USD",
            o.local_symbol,
            o.trading_class,
            o.trading_class,
            o.con_id,
            o.min_tick,
        ]
    else:
        s: StockSpec = spec  # type: ignore[assignment]
        fields += [
            s.symbol,
            "STK",
            "",
            0.0,
            "",
            "SMART",
            s.currency,
            s.symbol,
            s.symbol,
            s.symbol,
            s.con_id,
            s.min_tick,
        ]
    if version < 164:
        fields.append(1)  # mdSizeMultiplier (obsolete)
    n_exch = len((OPT_EXCHANGES if opt else STK_EXCHANGES).split(","))
    rule = "32" if opt else "26"
    hours_open = ("0930", "1600") if opt else ("0400", "2000")
    if opt:
        fields += [
            str(o.multiplier),
            OPT_ORDER_TYPES,
            OPT_EXCHANGES,
            1,
            under_con_id,
            long_name,
            "",
            o.expiry[:6],
            "",
            "",
            "",
            "US/Eastern",
            trading_hours(today, *hours_open),
            trading_hours(today, "0930", "1600"),
            "",
            "",
            0,
            2,
            o.symbol,
            "STK",
            ",".join([rule] * n_exch),
            o.expiry,
            "",
        ]
    else:
        fields += [
            "",
            STK_ORDER_TYPES,
            STK_EXCHANGES,
            1,
            0,
            long_name,
            s.primary_exchange,
            "",
            "",
            "",
            "",
            "US/Eastern",
            trading_hours(today, *hours_open),
            trading_hours(today, "0930", "1600"),
            "",
            "",
            0,
            1,
            "",
            "",
            ",".join([rule] * n_exch),
            "",
            "ETF" if s.symbol in ETFS else "COMMON",
        ]
    if version == 163:
        fields.append(100 if not opt else 1)
    if version >= 164:
        fields += [1, 1, 100 if not opt else 1]  # minSize, sizeIncrement, suggestedSizeIncrement
    return fields


def contract_data_end(req_id: int) -> Fields:
    """contractDataEnd (52): ``52, 1, reqId``."""
    return [Out.CONTRACT_DATA_END, 1, req_id]


def sec_def_opt_params(
    req_id: int,
    exchange: str,
    under_con_id: int,
    trading_class: str,
    mult: int,
    expiries: Sequence[str],
    strikes: Sequence[float],
) -> Fields:
    """securityDefinitionOptionParameter (75): no version; expiries then strikes, nothing after."""
    return [
        Out.SECURITY_DEFINITION_OPTION_PARAMETER,
        req_id,
        exchange,
        under_con_id,
        trading_class,
        str(mult),
        len(expiries),
        *expiries,
        len(strikes),
        *strikes,
    ]


def sec_def_opt_params_end(req_id: int) -> Fields:
    """securityDefinitionOptionParameterEnd (76): ``76, reqId``."""
    return [Out.SECURITY_DEFINITION_OPTION_PARAMETER_END, req_id]


def tick_price(req_id: int, tick_type: int, price: float, size: float, attrib: int = 0) -> Fields:
    """tickPrice (1): exactly 7 fields."""
    return [Out.TICK_PRICE, 6, req_id, tick_type, price, size, attrib]


def tick_size(req_id: int, tick_type: int, size: float) -> Fields:
    """tickSize (2)."""
    return [Out.TICK_SIZE, 6, req_id, tick_type, size]


def tick_generic(req_id: int, tick_type: int, value: float) -> Fields:
    """tickGeneric (45)."""
    return [Out.TICK_GENERIC, 6, req_id, tick_type, value]


def tick_option_computation(
    req_id: int,
    tick_type: int,
    iv: float,
    delta: float,
    opt_price: float,
    pv_dividend: float,
    gamma: float,
    vega: float,
    theta: float,
    und_price: float,
) -> Fields:
    """tickOptionComputation (21): exactly 12 fields at ≥ 156 (no version; tickAttrib 0 = return based)."""
    return [
        Out.TICK_OPTION_COMPUTATION,
        req_id,
        tick_type,
        0,
        iv,
        delta,
        opt_price,
        pv_dividend,
        gamma,
        vega,
        theta,
        und_price,
    ]


def tick_snapshot_end(req_id: int) -> Fields:
    """tickSnapshotEnd (57)."""
    return [Out.TICK_SNAPSHOT_END, 1, req_id]


def market_data_type(req_id: int, mdt: int) -> Fields:
    """marketDataType (58): 1 live, 2 frozen, 3 delayed, 4 delayed-frozen."""
    return [Out.MARKET_DATA_TYPE, 1, req_id, mdt]


def historical_data(req_id: int, start: str, end: str, bars: Sequence[Bar]) -> Fields:
    """historicalData (17): no version at these server versions; 8 fields per bar."""
    fields: Fields = [Out.HISTORICAL_DATA, req_id, start, end, len(bars)]
    for b in bars:
        wap = round((b.high + b.low + b.close) / 3, 4)
        fields += [
            b.date.replace("-", ""),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume,
            wap,
            max(1, b.volume // 100),
        ]
    return fields


def account_value(key: str, value: str, currency: str, account: str) -> Fields:
    """accountValue (6): ``6, 2, key, value, currency, account``."""
    return [Out.ACCT_VALUE, 2, key, value, currency, account]


def portfolio_value(
    spec: Spec,
    position: float,
    market_price: float,
    market_value: float,
    avg_cost: float,
    unrealized: float,
    realized: float,
    account: str,
) -> Fields:
    """portfolioValue (7): exactly 20 fields; avgCost per share (STK) or per contract (OPT, × multiplier)."""
    return [
        Out.PORTFOLIO_VALUE,
        8,
        *contract11(spec, primary=True),
        position,
        market_price,
        market_value,
        avg_cost,
        unrealized,
        realized,
        account,
    ]


def account_time(ts: datetime) -> Fields:
    """accountTime (8): ``HH:MM``."""
    return [Out.ACCT_UPDATE_TIME, 1, to_eastern(ts).strftime("%H:%M")]


def account_download_end(account: str) -> Fields:
    """accountDownloadEnd (54)."""
    return [Out.ACCT_DOWNLOAD_END, 1, account]


def position(account: str, spec: Spec, pos: float, avg_cost: float) -> Fields:
    """position (61): 16 fields."""
    return [Out.POSITION_DATA, 3, account, *contract11(spec, exchange=""), pos, avg_cost]


def position_end() -> Fields:
    """positionEnd (62)."""
    return [Out.POSITION_END, 1]


def account_update_multi(
    req_id: int, account: str, model: str, key: str, value: str, currency: str
) -> Fields:
    """accountUpdateMulti (73): 8 fields."""
    return [Out.ACCOUNT_UPDATE_MULTI, 1, req_id, account, model, key, value, currency]


def account_update_multi_end(req_id: int) -> Fields:
    """accountUpdateMultiEnd (74)."""
    return [Out.ACCOUNT_UPDATE_MULTI_END, 1, req_id]


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
    """commissionReport (59): exactly 8; realizedPNL UNSET (empty) for opening executions."""
    return [
        Out.COMMISSION_REPORT,
        1,
        exec_id,
        round(commission, 4),
        "USD",
        None if realized_pnl is None else round(realized_pnl, 4),
        None,
        None,
    ]
