"""Listing rules of the simulated option market: expiries, strike increments, strikes and contract ids.

Rules follow the US listed-options conventions (Cboe/OCC): standard monthlies expire on the third Friday,
weeklies on the other Fridays; when the Friday is an exchange holiday the expiry moves to the Thursday before
(e.g. Good Friday).  Holidays come from ``exchange_calendars`` XNYS.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import exchange_calendars as xcals
import pandas as pd

#: Option con_ids are ``OPTION_CONID_BASE + packed(symbol index, expiry week, thursday flag, strike, right)``.
OPTION_CONID_BASE = 1_000_000_000
_WEEK0 = date(2024, 1, 5)  # a Friday; expiry weeks are counted from here (9 bits: to 2033)
# strikes are packed in 13 bits: half dollars up to $2000, then $5 steps up to $22,955


def _strike_code(strike: float) -> int | None:
    units = strike * 2.0 if strike <= 2000.0 else 4000.0 + (strike - 2000.0) / 5.0
    code = int(round(units))
    return code if abs(units - code) < 1e-6 and 0 < code < 8192 else None


def representable(strike: float) -> bool:
    """True when the strike can be packed into an option con_id (see :func:`option_con_id`)."""
    return _strike_code(strike) is not None


def load_calendar(start: date, end: date) -> xcals.ExchangeCalendar:
    """The NYSE (XNYS) calendar covering [start, end] (sessions, holidays, early closes)."""
    with warnings.catch_warnings():  # exchange_calendars 4.x trips a pandas 3 deprecation warning internally
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*Series.values.*")
        return xcals.get_calendar("XNYS", start=pd.Timestamp(start), end=pd.Timestamp(end))


#: calibration.json next to the shipped data (written by ``python -m simulator.calibrate``)
CALIBRATION = Path(__file__).resolve().parent / "data" / "calibration.json"
#: spacing used when calibration.json is missing: (upper price, standard step, short-dated step) tiers
_DEFAULT_SPACING: dict[str, Any] = {
    "short_dte": 10,
    "tiers": [[25.0, 0.5, 0.5], [100.0, 1.0, 0.5], [500.0, 5.0, 2.5], [1e9, 10.0, 5.0]],
    "etf_step": 1.0,
    "fine_sd": 1.2,
    "fine_min": 0.04,
    "range": {"monthly_long": 0.6, "monthly_short": 0.6, "weekly_long": 0.22, "weekly_short": 0.12},
    "wing_mult": {"etf_long": 5.0, "etf_short": 5.0, "stock_long": 1.0, "stock_short": 2.0},
}


@functools.cache
def spacing_params(path: Path = CALIBRATION) -> dict[str, Any]:
    """The fitted strike-spacing rules (``spacing`` of calibration.json; defaults when it is missing)."""
    if path.exists():
        return dict(json.loads(path.read_text())["spacing"])
    return _DEFAULT_SPACING


def strike_increment(price: float, etf: bool, dte: float | None = None) -> float:
    """Strike spacing listed near the money at this underlying price (currency per share).

    Fitted on the 2026-02 chains (:mod:`simulator.calibrate`): by price tier the standard step ($0.50 below
    $25, $1 to $100, $5 to $500, $10 above; the tiers without real chains keep the exchanges' convention) and,
    for expiries within ``short_dte`` days (the weeklies about to expire), the finer short-dated step ($2.50
    instead of $5 at $100-$500).  The big index ETFs (SPY, QQQ, IWM) list $1 strikes at any price.
    """
    sp = spacing_params()
    if etf:
        return float(sp["etf_step"])
    short = dte is not None and dte <= float(sp["short_dte"])
    for tier in sp["tiers"]:
        if price < float(tier[0]):
            return float(tier[2] if short else tier[1])
    return float(sp["tiers"][-1][2 if short else 1])


def third_friday(year: int, month: int) -> date:
    """The third Friday of a month (standard monthly expiry)."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def listed_expiries(
    cal: xcals.ExchangeCalendar, today: date, weeks: int = 8, months: int = 9
) -> list[tuple[date, bool]]:
    """Expiries listed on ``today``: (last trade date, is_monthly), sorted, all >= today.

    Weekly Fridays for the next ``weeks`` weeks, third-Friday monthlies for the next ``months`` months;
    a Friday that is not an XNYS session moves to the Thursday before.
    """
    fridays: dict[date, bool] = {}
    first_fri = today + timedelta(days=(4 - today.weekday()) % 7)
    for i in range(weeks):
        fridays[first_fri + timedelta(weeks=i)] = False
    y, m = today.year, today.month
    for _ in range(months + 1):
        tf = third_friday(y, m)
        if tf >= today:
            fridays[tf] = True
        m += 1
        if m > 12:
            y, m = y + 1, 1
    out: list[tuple[date, bool]] = []
    for fri, monthly in fridays.items():
        monthly = monthly or fri == third_friday(fri.year, fri.month)
        d = fri
        while not cal.is_session(pd.Timestamp(d)):
            d -= timedelta(days=1)
        if d >= today:
            out.append((d, monthly))
    return sorted(set(out))


def strike_grid(ref_price: float, vol: float, t_years: float, monthly: bool, etf: bool) -> list[float]:
    """Strikes listed for one expiry, around the reference price (previous close).

    As the real chains list them (fitted by :mod:`simulator.calibrate`): the near-the-money step
    (:func:`strike_increment` at this DTE) within +-max(fine_min, fine_sd sigma sqrt T) of the money, then the
    wing step (a fitted multiple of it) out to the listed range of the expiry kind (monthlies reach much
    further than weeklies; the expiries about to expire list the narrowest range).
    """
    sp = spacing_params()
    dte = t_years * 365.0
    short = dte <= float(sp["short_dte"])
    inc = strike_increment(ref_price, etf, dte)
    sig = vol * math.sqrt(max(t_years, 1.0 / 365.0))
    fine = max(float(sp["fine_min"]), float(sp["fine_sd"]) * sig)
    kind = f"{'monthly' if monthly else 'weekly'}_{'short' if short else 'long'}"
    wide = max(float(sp["range"][kind]), fine)
    winc = inc * float(sp["wing_mult"][f"{'etf' if etf else 'stock'}_{'short' if short else 'long'}"])

    def grid(step: float, half_width: float) -> set[float]:
        lo = math.ceil(ref_price * math.exp(-half_width) / step - 1e-9) * step
        hi = math.floor(ref_price * math.exp(half_width) / step + 1e-9) * step
        return {round(lo + i * step, 2) for i in range(int(round((hi - lo) / step)) + 1)}

    strikes = grid(inc, fine) | grid(winc, wide)
    return sorted(s for s in strikes if s > 0)


def option_con_id(sym_index: int, expiry: date, strike: float, right: str) -> int:
    """Deterministic, reversible con_id in [1e9, 1e9 + 2^30) (always > 100_000_000 and < 2^31)."""
    week = (expiry - _WEEK0).days
    thursday = 1 if week % 7 else 0
    week = (week + thursday) // 7
    units = _strike_code(strike)
    if units is None or not (0 <= sym_index < 64 and 0 <= week < 512):
        raise ValueError(f"contract out of con_id range: {sym_index} {expiry} {strike}")
    packed = ((((sym_index << 9) | week) << 1 | thursday) << 13 | units) << 1 | (1 if right == "C" else 0)
    return OPTION_CONID_BASE + packed


def decode_option_con_id(con_id: int) -> tuple[int, date, float, str] | None:
    """Inverse of :func:`option_con_id`: (symbol index, expiry, strike, right); None if not an option id."""
    packed = con_id - OPTION_CONID_BASE
    if not 0 <= packed < (1 << 30):
        return None
    right = "C" if packed & 1 else "P"
    packed >>= 1
    units = packed & 0x1FFF
    packed >>= 13
    thursday = packed & 1
    packed >>= 1
    week = packed & 0x1FF
    sym_index = packed >> 9
    if units == 0:
        return None
    expiry = _WEEK0 + timedelta(days=7 * week - thursday)
    strike = units / 2.0 if units <= 4000 else 2000.0 + 5.0 * (units - 4000)
    return sym_index, expiry, strike, right


def occ_local_symbol(symbol: str, expiry: date, strike: float, right: str) -> str:
    """OCC option symbol, 21 chars: root padded to 6, YYMMDD, C/P, strike x 1000 in 8 digits."""
    return f"{symbol:<6}{expiry:%y%m%d}{right}{int(round(strike * 1000)):08d}"
