"""Server → client message builders (except openOrder, see ``openorder.py``).

Every layout mirrors ib_async ``decoder.py`` at the negotiated server version. Builders return field lists;
``protocol.encode`` frames them. Prices are dollars per share unless stated otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from .encoders_account import (  # noqa: F401 - re-exported: simulator.encoders is the encoders' facade
    UNSET_TEXT,
    account_download_end,
    account_summary,
    account_summary_end,
    account_time,
    account_update_multi,
    account_update_multi_end,
    account_value,
    money_or_unset,
    pnl,
    pnl_single,
    portfolio_value,
    position,
    position_end,
)
from .encoders_base import (  # noqa: F401 - re-exported
    EASTERN,
    Fields,
    Spec,
    contract11,
    is_bag,
    is_option,
    multiplier,
    sec_type,
    to_eastern,
    tws_time,
)
from .encoders_order import (  # noqa: F401 - re-exported
    commission_report,
    exec_details,
    exec_details_end,
    order_status,
)
from .market_types import HistRow  # noqa: F401 - re-exported
from .protocol import Field, Out  # noqa: F401 - Field re-exported

if TYPE_CHECKING:
    from .market import Bar, OptionSpec, StockSpec

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
        index = sec_type(spec) == "IND"  # an index (simulator/vix.py): CBOE only, not tradable
        fields += [
            s.symbol,
            "IND" if index else "STK",
            "",
            0.0,
            "",
            s.primary_exchange if index else "SMART",
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
    # alike for both kinds: industry, category, subcategory, timeZoneId, tradingHours, liquidHours, evRule,
    # evMultiplier, secIdListCount
    common: Fields = [
        "",
        "",
        "",
        "US/Eastern",
        trading_hours(today, *hours_open),
        trading_hours(today, "0930", "1600"),
        "",
        "",
        0,
    ]
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
            *common,
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
            "" if index else STK_ORDER_TYPES,
            s.primary_exchange if index else STK_EXCHANGES,
            1,
            0,
            long_name,
            "" if index else s.primary_exchange,
            "",
            *common,
            1,
            "",
            "",
            "26" if index else ",".join([rule] * n_exch),
            "",
            "" if index else "ETF" if s.symbol in ETFS else "COMMON",
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
    """historicalData (17) of TRADES bars: WAP = (high + low + close) / 3, count = volume / 100."""
    rows = [
        HistRow(
            b.date,
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume,
            round((b.high + b.low + b.close) / 3, 4),
            max(1, b.volume // 100),
        )
        for b in bars
    ]
    return historical_rows(req_id, start, end, rows)


def historical_rows(req_id: int, start: str, end: str, rows: Sequence[HistRow]) -> Fields:
    """historicalData (17): ``17, reqId, start, end, n, (date, o, h, l, c, volume, wap, count)×n`` (no
    version at ≥ 124; no historicalDataEnd message below 196)."""
    fields: Fields = [Out.HISTORICAL_DATA, req_id, start, end, len(rows)]
    for b in rows:
        fields += [b.date.replace("-", ""), b.open, b.high, b.low, b.close, b.volume, b.wap, b.count]
    return fields
