"""Listings and liquidity calibrated on the real 2026-02 chains (simulator/calibrate.py, calibration.json).

Simulated chains at the first snapshot's time are compared with the real figures stored in calibration.json:
the shares of illiquid strikes (OI < 100, spread > 10 % of mid or no bid) within a tolerance, the strike
spacing near the money, and every quote's 0 <= bid <= ask, ask >= intrinsic.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from simulator import calibrate
from simulator.listing import CALIBRATION, strike_grid, strike_increment
from simulator.market import Market

WHEN = datetime(2026, 2, 11, 17, 27, tzinfo=UTC)  # the first snapshot (12:27 ET)
SYMBOLS = ["SPY", "AAPL", "NVDA", "TSLA"]
SOURCE = Path(calibrate.REPO).parent / "shared" / "marketdata" / "options" / "chains_2026-02"


@pytest.fixture(scope="module")
def cal() -> dict:
    return json.loads(CALIBRATION.read_text())


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return calibrate.simulated_frame(SYMBOLS, WHEN)


def test_illiquid_shares_match_the_real_chains(cal: dict, sim: pd.DataFrame) -> None:
    real = cal["real_figures"]
    got = {s: calibrate.sim_figures(sim, s) for s in SYMBOLS}
    for key, tol in (("oi_lt_100", 0.06), ("spread_gt_10pct", 0.06)):
        r = sum(real[s][key] for s in SYMBOLS) / len(SYMBOLS)
        g = sum(got[s][key] for s in SYMBOLS) / len(SYMBOLS)
        assert abs(g - r) <= tol, (key, r, g)
        for s in SYMBOLS:  # per symbol: the right order of magnitude, never the old "everything liquid"
            assert abs(got[s][key] - real[s][key]) <= 0.15, (key, s, real[s][key], got[s][key])
    assert sum(got[s]["oi_lt_100"] for s in SYMBOLS) / len(SYMBOLS) >= 0.15
    for s in SYMBOLS:
        r, g = real[s]["median_rel_spread"], got[s]["median_rel_spread"]
        assert r / 3 <= g <= r * 3, (s, r, g)


def test_weeklies_are_less_liquid_than_monthlies(sim: pd.DataFrame) -> None:
    exp = pd.to_datetime(sim["expirationDate"], format="%Y%m%d")
    monthly = (exp.dt.day_of_week == 4) & (exp.dt.day >= 15) & (exp.dt.day <= 21)
    near = (sim["m"].abs() <= 0.2) & (sim["dte"] >= 5) & (sim["dte"] <= 60)
    thin = sim["oi"] < 100
    assert thin[near & ~monthly].mean() > thin[near & monthly].mean() + 0.1


def test_quotes_bid_nonnegative_ask_above_intrinsic(sim: pd.DataFrame) -> None:
    market = Market(seed=7, clock=lambda: WHEN)
    for sym in ("AAPL", "KO"):
        s0 = market.spot(sym)
        for opt in market.find_options(sym):
            q = market.option_quote(opt)
            intrinsic = max(s0 - opt.strike, 0.0) if opt.right == "C" else max(opt.strike - s0, 0.0)
            assert 0.0 <= q.bid <= q.ask and q.ask >= intrinsic - 1e-9, (opt.local_symbol, q.bid, q.ask)
    assert (sim["bid"] >= 0).all() and (sim["bid"] <= sim["ask"]).all()


def test_near_the_money_spacing_as_listed_on_real_chains(sim: pd.DataFrame) -> None:
    # stocks at $100-$500: $2.50 on the expiries within 10 days, $5 beyond; SPY $1; a $25-$100 stock $1/$0.50
    assert strike_increment(280.0, False, 7) == 2.5 and strike_increment(280.0, False, 30) == 5.0
    assert strike_increment(690.0, True, 30) == 1.0
    assert strike_increment(67.0, False, 30) == 1.0 and strike_increment(67.0, False, 3) == 0.5
    for sym, short, long_ in (("AAPL", 2.5, 5.0), ("SPY", 1.0, 1.0)):
        for _, e in sim[(sim["sym"] == sym) & (sim["optionType"] == "put")].groupby("expirationDate"):
            dte = float(e["dte"].iloc[0])
            ks = sorted(k for k, m in zip(e["strike"], e["m"], strict=True) if abs(m) <= 0.03)
            step = min(b - a for a, b in zip(ks, ks[1:], strict=False))
            assert step == (short if dte <= 10 else long_), (sym, dte, ks)
    # the fine band reaches further on a longer expiry, monthlies list the widest range
    w = strike_grid(100.0, 0.3, 30 / 365, False, False)
    m = strike_grid(100.0, 0.3, 30 / 365, True, False)
    assert set(w) < set(m) and min(m) < min(w) and max(m) > max(w)


def test_strike_counts_near_the_money_match(cal: dict, sim: pd.DataFrame) -> None:
    for s in ("SPY", "AAPL", "NVDA"):
        real = cal["real_figures"][s]["strikes_10pct"]
        got = calibrate.sim_figures(sim, s)["strikes_10pct"]
        assert abs(got - real) <= max(3, 0.25 * real), (s, real, got)


@pytest.mark.skipif(not SOURCE.exists(), reason="raw snapshots not available")
def test_shipped_calibration_is_what_the_script_fits(cal: dict) -> None:
    raw = calibrate.load_raw(SOURCE)
    spacing = calibrate.fit_spacing(raw)
    assert json.loads(json.dumps(spacing, sort_keys=True)) == cal["spacing"]
    figs = calibrate.real_figures(raw)
    assert all(math.isclose(figs[s]["oi_lt_100"], cal["real_figures"][s]["oi_lt_100"]) for s in figs)
