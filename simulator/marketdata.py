"""Market-data style requests: contract details, option-chain parameters, market data, historical bars."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from . import encoders as enc
from . import history, vix
from .encoders import Spec
from .inbound import ContractReq, read_contract, read_historical
from .ports import MktSub  # noqa: F401 - re-exported
from .protocol import Field, FieldReader, In

if TYPE_CHECKING:
    from .market import Market
    from .ports import Handler, SessionPort

log = logging.getLogger("simulator.marketdata")

NO_SECDEF = "No security definition has been found for the request"
DELAYED = {1: 66, 2: 67, 4: 68, 9: 75, 0: 69, 3: 70, 5: 71, 8: 74, 10: 80, 11: 81, 12: 82, 13: 83}
_OCC = re.compile(r"^([A-Z.]{1,6})\s*(\d{6})([CP])(\d{8})$")


def resolve(market: Market, c: ContractReq) -> list[Spec]:
    """All simulator contracts matching a (possibly partial) contract; strike 0 / empty expiry = any."""
    if c.con_id == vix.CON_ID or (c.sec_type == "IND" and (c.symbol or c.local_symbol).upper() == vix.SYMBOL):
        ok = c.exchange.upper() in ("", "CBOE", "SMART") and c.currency.upper() in ("", "USD")
        return [vix.SPEC] if ok and c.sec_type in ("", "IND") else []  # type: ignore[list-item]
    if c.con_id:
        spec = market.contract_by_con_id(c.con_id)
        if spec is None or (c.sec_type and c.sec_type != enc.sec_type(spec)):
            return []
        return [spec]
    sec_type = c.sec_type or "STK"
    symbol = c.symbol
    if sec_type == "STK":
        stock = market.stock(symbol or c.local_symbol.upper())
        return [stock] if stock is not None else []
    if sec_type != "OPT":
        return []
    expiry, strike, right = c.expiry, c.strike, c.right
    if c.local_symbol:
        m = _OCC.match(c.local_symbol.upper().strip())
        if m:
            symbol = symbol or m.group(1)
            expiry = expiry or "20" + m.group(2)
            right = right or m.group(3)
            strike = strike or int(m.group(4)) / 1000
    if not symbol or market.stock(symbol) is None:
        return []
    exact_expiry = expiry if len(expiry) == 8 else None
    found = market.find_options(symbol, exact_expiry, strike or None, right or None)
    if expiry and not exact_expiry:
        found = [o for o in found if o.expiry.startswith(expiry)]
    if c.trading_class:
        found = [o for o in found if o.trading_class == c.trading_class]
    if c.multiplier:
        with contextlib.suppress(ValueError):
            found = [o for o in found if o.multiplier == int(float(c.multiplier))]
    return list(found)


def long_name(market: Market, spec: Spec) -> str:
    """Company/fund name of the contract's underlying."""
    if vix.is_index(spec):
        return str(getattr(spec, "long_name", spec.symbol))
    stock = market.stock(spec.symbol)
    return stock.long_name if stock is not None else spec.symbol


def _req_contract_details(s: SessionPort, r: FieldReader) -> None:
    r.skip(1)  # version
    req_id = r.integer()
    contract = read_contract(r)
    market = s.server.market
    specs = resolve(market, contract)
    if not specs:
        log.info("client %s: no contract for %s", s.client_id, contract.describe())
        s.error(req_id, 200, NO_SECDEF)
        return
    today = enc.to_eastern(market.now()).date()
    for spec in specs:
        stock = market.stock(spec.symbol)
        under = stock.con_id if (stock is not None and enc.is_option(spec)) else 0
        s.send(enc.contract_data(req_id, spec, s.version, today, long_name(market, spec), under))
    s.send(enc.contract_data_end(req_id))


def _req_sec_def_opt_params(s: SessionPort, r: FieldReader) -> None:
    req_id = r.integer()
    symbol = r.text().upper()
    exchange = r.text().upper()
    r.skip(1)  # underlying secType
    con_id = r.integer()
    if con_id == 0:
        s.error(req_id, 321, "Error validating request.-'bX' : cause - Invalid underlying contract id")
        s.send(enc.sec_def_opt_params_end(req_id))  # lets clients that treat 321 as a warning finish
        return
    market = s.server.market
    stock = market.stock(symbol)
    if stock is not None and stock.con_id == con_id:
        expiries = market.expiries(symbol)
        strikes = market.strikes(symbol)
        sample = market.find_options(symbol, expiries[0]) if expiries else []
        trading_class = sample[0].trading_class if sample else symbol
        mult = sample[0].multiplier if sample else 100
        for exch in [exchange] if exchange else ["SMART", "CBOE"]:
            s.send(enc.sec_def_opt_params(req_id, exch, con_id, trading_class, mult, expiries, strikes))
    s.send(enc.sec_def_opt_params_end(req_id))


def _req_mkt_data(s: SessionPort, r: FieldReader) -> None:
    r.skip(1)  # version
    req_id = r.integer()
    contract = read_contract(r)
    if contract.sec_type == "BAG":
        r.skip(4 * r.integer())
    if r.flag():
        r.skip(3)  # delta-neutral contract
    generic = {g.strip() for g in r.text().split(",") if g.strip()}
    snapshot = r.flag()
    regulatory = r.flag()
    specs = resolve(s.server.market, contract)
    if len(specs) != 1:
        s.error(req_id, 200, NO_SECDEF)
        return
    snap = snapshot or regulatory
    if not snap:
        if req_id in s.mkt_subs:
            s.error(req_id, 322, "Error processing request:-'bW' : cause - Duplicate ticker id")
            return
        if len(s.mkt_subs) >= s.server.config.max_tickers:
            s.error(req_id, 101, "Max number of tickers has been reached")
            return
    sub = MktSub(req_id, specs[0], generic, snap)
    s.send(enc.market_data_type(req_id, s.market_data_type))
    if s.market_data_type in (3, 4):
        s.error(req_id, 10167, "Requested market data is not subscribed. Displaying delayed market data.")
    s.server.market.step()
    send_ticks(s, sub, only_changed=False)
    if snap:
        s.send(enc.tick_snapshot_end(req_id))
    else:
        s.mkt_subs[req_id] = sub


def _cancel_mkt_data(s: SessionPort, r: FieldReader) -> None:
    r.skip(1)
    s.mkt_subs.pop(r.integer(), None)


def _req_market_data_type(s: SessionPort, r: FieldReader) -> None:
    r.skip(1)
    mdt = r.integer(1)
    s.market_data_type = mdt if mdt in (1, 2, 3, 4) else 1


def send_ticks(s: SessionPort, sub: MktSub, only_changed: bool) -> None:
    """Send the current quote of ``sub`` as ticks (only the values that changed when ``only_changed``)."""
    market = s.server.market
    delayed = s.market_data_type in (3, 4)

    def tt(t: int) -> int:
        return DELAYED.get(t, t) if delayed else t

    out: list[list[Field]] = []

    def changed(kind: str, tick: int, value: float) -> bool:
        key = (kind, tick)
        if only_changed and sub.sent.get(key) == value:
            return False
        sub.sent[key] = value
        return True

    spec = sub.spec
    if vix.is_index(spec):
        last, high, low, prev, opened = vix.model(market).quote()
        for t, price in [(4, last), (6, high), (7, low), (9, prev), (14, opened)]:
            if changed("p", t, price):
                out.append(enc.tick_price(sub.req_id, tt(t), price, 0, 0))
    elif enc.is_option(spec):
        q = market.option_quote(spec)  # type: ignore[arg-type]
        prices = [(1, q.bid, q.bid_size), (2, q.ask, q.ask_size)]
        if q.last > 0:
            prices.append((4, q.last, 0))
        sizes = [(0, q.bid_size), (3, q.ask_size), (8, q.volume)]
        right = getattr(spec, "right", "P")
        if "101" in sub.generic:
            sizes.append((27 if right == "C" else 28, q.open_interest))
        if "100" in sub.generic:
            sizes.append((29 if right == "C" else 30, q.volume))
        for t, price, size in prices:
            if changed("p", t, price) | changed("ps", t, size):
                out.append(enc.tick_price(sub.req_id, tt(t), price, size, 0))
        for t, size in sizes:
            if changed("s", t, size):
                out.append(enc.tick_size(sub.req_id, tt(t), size))
        greeks = [(10, q.bid), (11, q.ask), (13, q.model_price)]
        if q.last > 0:
            greeks.append((12, q.last))
        for t, opt_price in greeks:
            sig = hash((round(q.iv, 6), round(q.delta, 6), round(opt_price, 4), round(q.und_price, 4)))
            if changed("g", t, sig):
                out.append(
                    enc.tick_option_computation(
                        sub.req_id,
                        tt(t),
                        q.iv,
                        q.delta,
                        opt_price,
                        q.pv_dividend,
                        q.gamma,
                        q.vega,
                        q.theta,
                        q.und_price,
                    )
                )
    else:
        sq = market.stock_quote(spec.symbol)
        for t, price, size in [
            (1, sq.bid, sq.bid_size),
            (2, sq.ask, sq.ask_size),
            (4, sq.last, sq.last_size),
        ]:
            if changed("p", t, price) | changed("ps", t, size):
                out.append(enc.tick_price(sub.req_id, tt(t), price, size, 0))
        for t, size in [(0, sq.bid_size), (3, sq.ask_size), (5, sq.last_size), (8, sq.volume)]:
            if changed("s", t, size):
                out.append(enc.tick_size(sub.req_id, tt(t), size))
        if changed("p", 9, sq.close):
            out.append(enc.tick_price(sub.req_id, tt(9), sq.close, 0, 0))
        out += stock_generic_ticks(s, sub, changed)
    for msg in out:
        s.send(msg)


def stock_generic_ticks(
    s: SessionPort, sub: MktSub, changed: Callable[[str, int, float], bool]
) -> list[list[Field]]:
    """Generic ticks of a stock line: 100 → option call/put volume (29/30), 101 → option call/put open
    interest (27/28), summed over the underlying's chain; 104 → 30-day historical vol (23); 106 → 30-day
    at-the-money implied vol (24). Sizes in contracts, vols as fractions."""
    market, symbol, out = s.server.market, sub.spec.symbol, []
    if "100" in sub.generic or "101" in sub.generic:
        call_oi, put_oi, call_vol, put_vol = history.chain_activity(market, symbol)
        sizes = [(27, call_oi), (28, put_oi)] if "101" in sub.generic else []
        sizes += [(29, call_vol), (30, put_vol)] if "100" in sub.generic else []
        out += [enc.tick_size(sub.req_id, t, n) for t, n in sizes if changed("s", t, n)]
    if "104" in sub.generic and changed("g", 23, hv := history.stock_hv(market, symbol)):
        out.append(enc.tick_generic(sub.req_id, 23, hv))
    if "106" in sub.generic and changed("g", 24, iv := history.stock_iv(market, symbol)):
        out.append(enc.tick_generic(sub.req_id, 24, iv))
    return out


_DURATION = re.compile(r"^\s*(\d+)\s*([SDWMY])\s*$", re.IGNORECASE)


def duration_to_days(duration: str) -> int | None:
    """Trading days covered by a TWS durationStr ("30 D", "2 W", "6 M", "1 Y"); None when invalid."""
    m = _DURATION.match(duration)
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2).upper()
    return max(1, {"S": 0, "D": n, "W": 5 * n, "M": 21 * n, "Y": 252 * n}[unit] or 1)


def parse_end_date(text: str, default: date) -> date:
    """The date part of a reqHistoricalData endDateTime ('' → ``default``)."""
    digits = text.strip()[:8]
    if len(digits) == 8 and digits.isdigit():
        return datetime.strptime(digits, "%Y%m%d").date()
    return default


def _req_historical_data(s: SessionPort, r: FieldReader) -> None:
    h = read_historical(r)
    market = s.server.market
    specs = resolve(market, h.contract)
    if len(specs) != 1:
        s.error(h.req_id, 200, NO_SECDEF)
        return
    spec = specs[0]
    if h.bar_size.strip().lower() not in ("1 day", "1 d", "1day"):
        s.error(
            h.req_id,
            162,
            f"Historical Market Data Service error message:Bar size {h.bar_size} is not "
            "supported by the simulator (only 1 day)",
        )
        return
    count = duration_to_days(h.duration)
    if count is None:
        s.error(h.req_id, 321, f"Error validating request.-'bP' : cause - Invalid duration {h.duration!r}")
        return
    now = enc.to_eastern(market.now())
    end = parse_end_date(h.end, now.date())
    rows = history.daily_rows(market, spec, h.what_to_show, end, count)
    if rows is None:
        s.error(
            h.req_id,
            162,
            "Historical Market Data Service error message:No data of type "
            f"{h.what_to_show} is available for {enc.sec_type(spec)} {spec.symbol}",
        )
        return
    if not rows:
        s.error(h.req_id, 162, "Historical Market Data Service error message:HMDS query returned no data")
        return
    first = datetime.strptime(rows[0].date.replace("-", "")[:8], "%Y%m%d") - timedelta(days=1)
    end_str = end.strftime("%Y%m%d") + now.strftime(" %H:%M:%S")
    s.send(enc.historical_rows(h.req_id, first.strftime("%Y%m%d %H:%M:%S"), end_str, rows))


def _cancel_historical_data(s: SessionPort, r: FieldReader) -> None:
    log.debug("client %s: cancelHistoricalData %s", s.client_id, r.text())


HANDLERS: dict[int, Handler] = {
    In.REQ_CONTRACT_DETAILS: _req_contract_details,
    In.REQ_SEC_DEF_OPT_PARAMS: _req_sec_def_opt_params,
    In.REQ_MKT_DATA: _req_mkt_data,
    In.CANCEL_MKT_DATA: _cancel_mkt_data,
    In.REQ_MARKET_DATA_TYPE: _req_market_data_type,
    In.REQ_HISTORICAL_DATA: _req_historical_data,
    In.CANCEL_HISTORICAL_DATA: _cancel_historical_data,
}
