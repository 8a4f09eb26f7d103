"""Daily historical bars for every ``whatToShow`` the service uses, and the volatility/option-activity ticks.

Stocks and ETFs (prices in dollars per share; ``h`` = the half-spread the live quote uses, half of
``max(1, round(price × 0.3 bp / 1¢))`` cents):

* ``TRADES`` / ``ADJUSTED_LAST``: the market model's daily bars (real bars where the data has them, the
  seeded path after), volume in shares, WAP = (H + L + C) / 3, count = volume / 100;
* ``MIDPOINT``: the same OHLC (the quote is centred on the path); ``BID`` / ``ASK``: OHLC − / + h;
* ``BID_ASK`` as TWS documents it: open = time-average bid, high = max ask, low = min bid, close =
  time-average ask, the time average taken as (O + H + L + C) / 4;
* ``HISTORICAL_VOLATILITY``: close = 30-day realized vol (stdev of close-to-close log returns × √252) ending
  that day, open = the same ending the day before, high/low their max/min;
* ``OPTION_IMPLIED_VOLATILITY``: close = the 30-day at-the-money IV the option quotes used that day
  (:meth:`Market.atm_iv`: the fitted smile × the day's level, which follows ½ (long-run vol + 20-day
  realized vol) of the closes before it — real closes where the data has them — plus the earnings events
  within 30 days; see :mod:`simulator.surface`); today's bar closes at the live value; open = the
  previous day's value, high/low widened by a quarter of the underlying's relative range; past bars never
  move.

Non-TRADES bars carry volume, WAP and count −1, as TWS sends them.

Options (``TRADES`` and ``MIDPOINT``): priced by the model along the underlying's bars — open at the
session's open spot, close = the model value at the close (today: the live quote's last/mid), high/low the
extremes over open, close and the values at the underlying's high and low. Bars start when the contract is
listed (8 weeks before a weekly expiry, 1 year before a monthly) and stop at its expiry. TRADES volume is a
deterministic share of today's open interest (≈ 15 % × 0.5…1.5), count = volume / 3.
"""

from __future__ import annotations

import math
import weakref
from datetime import date, datetime, time, timedelta
from statistics import stdev
from typing import TYPE_CHECKING

from . import vix
from .clock import EASTERN
from .contracts import Spec, is_option
from .listing import third_friday
from .market_types import HistRow
from .paths import mix64

if TYPE_CHECKING:
    from .market import Bar, Market, OptionSpec

STOCK_SERIES = ("TRADES", "ADJUSTED_LAST", "MIDPOINT", "BID", "ASK", "BID_ASK")
VOL_SERIES = ("HISTORICAL_VOLATILITY", "OPTION_IMPLIED_VOLATILITY")
OPTION_SERIES = ("TRADES", "MIDPOINT")
HV_DAYS = 30


def half_spread(price: float) -> float:
    """Half the stock quote's bid-ask spread at ``price`` (dollars)."""
    return max(1, round(price * 0.3e-4 / 0.01)) / 200


def realized_vol(closes: list[float]) -> float:
    """Annualized stdev of the close-to-close log returns of ``closes`` (fraction; 0 with < 3 closes)."""
    rets = [math.log(b / a) for a, b in zip(closes, closes[1:], strict=False) if a > 0 and b > 0]
    return stdev(rets) * math.sqrt(252.0) if len(rets) >= 2 else 0.0


def _unpriced(b: Bar, o: float, h: float, lo: float, c: float, digits: int = 4) -> HistRow:
    return HistRow(
        b.date, round(o, digits), round(h, digits), round(lo, digits), round(c, digits), -1, -1, -1
    )


def stock_rows(market: Market, symbol: str, what: str, end: date, count: int) -> list[HistRow]:
    """Daily rows of a stock/ETF for one of ``STOCK_SERIES`` or ``VOL_SERIES``."""
    if what in VOL_SERIES:
        return vol_rows(market, symbol, what, end, count)
    bars = market.daily_bars(symbol, end, count)
    rows = []
    for b in bars:
        if what in ("TRADES", "ADJUSTED_LAST"):
            wap = round((b.high + b.low + b.close) / 3, 4)
            rows.append(
                HistRow(b.date, b.open, b.high, b.low, b.close, b.volume, wap, max(1, b.volume // 100))
            )
            continue
        h = half_spread(b.close)
        sign = {"MIDPOINT": 0, "BID": -1, "ASK": 1}.get(what)
        if sign is not None:
            rows.append(
                _unpriced(b, b.open + sign * h, b.high + sign * h, b.low + sign * h, b.close + sign * h)
            )
        else:  # BID_ASK
            avg = (b.open + b.high + b.low + b.close) / 4
            rows.append(_unpriced(b, avg - h, b.high + h, b.low - h, avg + h))
    return rows


def vol_rows(market: Market, symbol: str, what: str, end: date, count: int) -> list[HistRow]:
    """HISTORICAL_VOLATILITY or OPTION_IMPLIED_VOLATILITY daily rows (values as fractions)."""
    pad = HV_DAYS + 1
    bars = market.daily_bars(symbol, end, count + pad)
    closes = [b.close for b in bars]
    if what == "HISTORICAL_VOLATILITY":
        series = [realized_vol(closes[max(0, i - HV_DAYS) : i + 1]) for i in range(len(bars))]
    else:
        today = market.now().astimezone(EASTERN).date().strftime("%Y%m%d")
        series = [
            market.atm_iv(symbol, 30.0)
            if b.date == today
            else market.atm_iv(symbol, 30.0, datetime.strptime(b.date, "%Y%m%d").date())
            for b in bars
        ]
    rows = []
    for i in range(max(1, len(bars) - count), len(bars)):
        b, o, c = bars[i], series[i - 1], series[i]
        if what == "HISTORICAL_VOLATILITY":
            hi, lo = max(o, c), min(o, c)
        else:
            widen = 0.25 * (b.high - b.low) / b.close if b.close else 0.0
            hi, lo = max(o, c) * (1 + widen), min(o, c) * (1 - widen)
        rows.append(_unpriced(b, o, hi, lo, c, 6))
    return rows


def _ts(day: date, hhmm: time) -> int:
    return int(datetime.combine(day, hhmm, tzinfo=EASTERN).timestamp())


def listed_from(opt: OptionSpec) -> date:
    """First day the contract trades: 1 year before a monthly expiry, 8 weeks before a weekly one."""
    exp = date(int(opt.expiry[:4]), int(opt.expiry[4:6]), int(opt.expiry[6:]))
    monthly = third_friday(exp.year, exp.month) in (exp, exp + timedelta(days=1))
    return exp - timedelta(days=365 if monthly else 56)


def option_rows(market: Market, opt: OptionSpec, what: str, end: date, count: int) -> list[HistRow]:
    """TRADES or MIDPOINT daily rows of an option, priced along the underlying's bars."""
    expiry = date(int(opt.expiry[:4]), int(opt.expiry[4:6]), int(opt.expiry[6:]))
    start = listed_from(opt)
    today = market.now().astimezone(EASTERN).date()
    trades = what == "TRADES"
    oi = market.option_quote(opt).open_interest
    rows = []
    for b in market.daily_bars(opt.symbol, min(end, expiry), count):
        day = datetime.strptime(b.date, "%Y%m%d").date()
        if day < start:
            continue
        mid_session = _ts(day, time(12, 45))
        o = market.option_value(opt, b.open, _ts(day, time(9, 30)))[0]
        if day == today:
            q = market.option_quote(opt)
            c = q.last if trades and q.last > 0 else (q.bid + q.ask) / 2
        else:
            c = market.value_at_close(opt, day)
        extremes = [market.option_value(opt, s, mid_session)[0] for s in (b.high, b.low)]
        hi, lo = max(o, c, *extremes), min(o, c, *extremes)
        if not trades:
            rows.append(_unpriced(b, o, hi, lo, c))
            continue
        o, hi, lo, c = (round(x, 2) for x in (o, hi, lo, c))
        share = 0.5 + (mix64(opt.con_id, day.toordinal(), 9) % 100) / 100
        volume = int(oi * 0.15 * share)
        rows.append(HistRow(b.date, o, hi, lo, c, volume, round((hi + lo + c) / 3, 4), max(1, volume // 3)))
    return rows


def daily_rows(market: Market, spec: Spec, what: str, end: date, count: int) -> list[HistRow] | None:
    """Rows for a reqHistoricalData of daily bars, or None when TWS has no data of that type."""
    if vix.is_index(spec):
        if what not in ("TRADES", "MIDPOINT"):
            return None
        bars = vix.model(market).bars(end, count)
        if what == "MIDPOINT":
            return [_unpriced(b, b.open, b.high, b.low, b.close, 2) for b in bars]
        return [
            HistRow(b.date, b.open, b.high, b.low, b.close, 0, round((b.high + b.low + b.close) / 3, 4), 0)
            for b in bars
        ]
    if is_option(spec):
        return option_rows(market, spec, what, end, count) if what in OPTION_SERIES else None  # type: ignore[arg-type]
    if what not in STOCK_SERIES + VOL_SERIES:
        return None
    return stock_rows(market, spec.symbol, what, end, count)


# ------------------------------------------------------------------------------------- generic ticks
_CHAIN: weakref.WeakKeyDictionary[Market, dict[tuple[str, int], tuple[int, int, int, int]]] = (
    weakref.WeakKeyDictionary()
)
SAMPLE = 200  # strikes (× both rights) sampled per symbol


def chain_activity(market: Market, symbol: str) -> tuple[int, int, int, int]:
    """(call OI, put OI, call volume, put volume) summed over the symbol's listed options, estimated from a
    deterministic sample of about ``SAMPLE`` strikes per right; refreshed once a minute (contracts)."""
    cache = _CHAIN.setdefault(market, {})
    key = (symbol, int(market.now().timestamp()) // 60)
    hit = cache.get(key)
    if hit is not None:
        return hit
    with market.pinned():  # every sampled quote of one second, however long the sum takes
        options = market.find_options(symbol)
        step = max(1, len(options) // (2 * SAMPLE))
        totals = {"C": [0, 0], "P": [0, 0]}
        counts = {"C": 0, "P": 0}
        sampled = {"C": 0, "P": 0}
        for i, opt in enumerate(options):
            counts[opt.right] += 1
            if (i // 2) % step:
                continue
            q = market.option_quote(opt)
            sampled[opt.right] += 1
            totals[opt.right][0] += q.open_interest
            totals[opt.right][1] += q.volume
        scale = {r: counts[r] / sampled[r] if sampled[r] else 0.0 for r in "CP"}
        out = (
            int(totals["C"][0] * scale["C"]),
            int(totals["P"][0] * scale["P"]),
            int(totals["C"][1] * scale["C"]),
            int(totals["P"][1] * scale["P"]),
        )
    if len(cache) > 64:
        cache.clear()
    cache[key] = out
    return out


def stock_hv(market: Market, symbol: str) -> float:
    """30-day historical volatility of the stock now (fraction), as tick 23 reports it."""
    today = market.now().astimezone(EASTERN).date()
    return round(realized_vol([b.close for b in market.daily_bars(symbol, today, HV_DAYS + 1)]), 6)


def stock_iv(market: Market, symbol: str) -> float:
    """30-day at-the-money implied volatility of the stock's options (fraction), as tick 24 reports it."""
    return round(market.atm_iv(symbol, 30.0), 6)
