"""Calibrate the simulated listings and liquidity on the real 2026-02 option-chain snapshots.

Usage: ``python -m simulator.calibrate [--source ../shared/marketdata] [--out simulator/data] [--no-check]``.

Fits, from the four yfinance snapshots of SPY QQQ AAPL AMZN NVDA TSLA IBIT (``options/chains_2026-02``):

* **strike spacing** — the near-the-money increment by price tier and DTE class (expiries within
  ``SHORT_DTE`` days list half the standard step on stocks), the half-width of the fine band in
  standard deviations (|ln K/S| / (sigma sqrt T), floored by a minimum in %), the listed range per
  (monthly, DTE class) and the coarser wing step (a multiple of the near increment);
* **open interest** — the residual r = ln(OI + 1) - ln(profile OI) of every contract against the symbol's
  median-OI profile (``surfaces.json``), per (monthly flag, DTE class, d bin): centre and spread of a normal,
  so that OI = profile x exp(mu + s z) reproduces the real share of strikes with OI < 100 (new weeklies,
  far wings);
* **bid-ask spread** — the residual ln(real relative spread / profile relative spread) per (DTE class, d bin,
  ITM flag), and the mid below which real chains quote no bid.

Writes ``calibration.json`` (compact fitted parameters) and, unless ``--no-check``, prints the fit figures:
real vs simulated shares of OI < 100, spread > 10 % of mid, zero bids, median relative spreads and strike
counts within +-10 % of spot (simulated chains of the same symbols at the snapshot time, DTE 5-60,
|ln K/S| <= 0.20).  Deterministic.
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.fitting import SNAPSHOTS
from simulator.quotes import Profile

REPO = Path(__file__).resolve().parent.parent
SYMBOLS = ("SPY", "QQQ", "AAPL", "AMZN", "NVDA", "TSLA", "IBIT")
ETFS = {"SPY", "QQQ", "IWM"}
SHORT_DTE = 10  # expiries this close list the fine (half) step on stocks
DTE_EDGES = (0, 10, 21, 35, 10_000)  # DTE classes for the OI and spread residuals
D_EDGES = (0.0, 0.5, 1.0, 2.0, math.inf)  # |k| / (ATM30 sigma sqrt T) bins
PRICE_TIERS = (0.0, 25.0, 100.0, 500.0, math.inf)
#: exchange strike ladder; tiers without real data fall back to CONVENTION (standard, short-dated) steps
LADDER = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0)
CONVENTION = {0: (0.5, 0.5), 1: (1.0, 0.5), 2: (5.0, 2.5), 3: (10.0, 5.0)}
EVAL = {"dte_lo": 5, "dte_hi": 60, "m_max": 0.20}  # contracts the fit figures are computed on


def _cls(value: float, edges: tuple[float, ...]) -> int:
    for i in range(len(edges) - 1):
        if value <= edges[i + 1]:
            return i
    return len(edges) - 2


def load_raw(folder: Path) -> pd.DataFrame:
    """All snapshots, raw rows with dte (days to 16:00 ET on the expiry), m = ln(K/S), mid, rel, oi."""
    frames = []
    for sym in SYMBOLS:
        for suffix, when in SNAPSHOTS.items():
            path = folder / f"{sym}_options{suffix}.csv"
            if not path.exists():
                continue
            df = pd.read_csv(path)
            taken = pd.Timestamp(when)
            close = pd.to_datetime(df["expirationDate"]) + pd.Timedelta(hours=16)
            df = df.assign(
                sym=sym,
                snap=suffix or "_1",
                dte=(close - taken).dt.total_seconds() / 86400.0,
                m=np.log(df["strike"] / df["underlyingPrice"]),
                mid=(df["bid"].clip(lower=0) + df["ask"].clip(lower=0)) / 2.0,
                oi=df["openInterest"].fillna(0.0),
            )
            exp = pd.to_datetime(df["expirationDate"])
            spread = (df["ask"] - df["bid"]) / df["mid"].where(df["mid"] > 0)
            df = df.assign(
                monthly=(exp.dt.day_of_week == 4) & (exp.dt.day >= 15) & (exp.dt.day <= 21), rel=spread
            )
            frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _atm_vol(g: pd.DataFrame) -> float:
    """ATM implied vol of one symbol-snapshot (median Yahoo IV within 3 % of spot, 10-60 DTE)."""
    near = g[(g["m"].abs() < 0.03) & (g["dte"] > 10) & (g["dte"] < 60) & (g["impliedVolatility"] > 0.05)]
    return float(near["impliedVolatility"].median()) if len(near) else 0.3


# ----------------------------------------------------------------------------------------------- spacing
def fit_spacing(raw: pd.DataFrame) -> dict[str, Any]:
    """Near increment per (price tier, DTE class), fine-band half-width, listed range and wing step."""
    steps: dict[tuple[int, int], list[float]] = {}
    hw_sd: list[float] = []
    hw_pct: list[float] = []
    ranges: dict[str, list[float]] = {}
    wing_mult: dict[str, list[float]] = {"etf_short": [], "etf_long": [], "stock_short": [], "stock_long": []}
    first = raw[(raw["snap"] == "_1") & (raw["optionType"] == "put") & (raw["dte"] > 1) & (raw["dte"] < 100)]
    for sym, g in first.groupby("sym"):
        etf = sym in ETFS
        vol = _atm_vol(raw[(raw["sym"] == sym) & (raw["snap"] == "_1")])
        for _, e in g.groupby("expirationDate"):
            s0 = float(e["underlyingPrice"].iloc[0])
            dte = float(e["dte"].iloc[0])
            ks = np.sort(e["strike"].unique())
            if len(ks) < 5:
                continue
            m = np.log(ks / s0)
            near_diffs = np.diff(ks[np.abs(m) < 0.03])
            if len(near_diffs) == 0:
                continue
            inc = float(pd.Series(near_diffs).mode().iloc[0])
            short = int(dte <= SHORT_DTE)
            if not etf:
                steps.setdefault((_cls(s0, PRICE_TIERS), short), []).append(inc)
            # fine band: contiguous run of the near step on each side of the money
            sig = vol * math.sqrt(dte / 365.0)
            i0 = int(np.argmin(np.abs(m)))
            lo = i0
            while lo > 0 and abs(ks[lo] - ks[lo - 1] - inc) < 1e-6:
                lo -= 1
            hi = i0
            while hi < len(ks) - 1 and abs(ks[hi + 1] - ks[hi] - inc) < 1e-6:
                hi += 1
            ext = min(-m[lo], m[hi])
            hw_sd.append(ext / sig)
            hw_pct.append(ext)
            key = f"{'monthly' if bool(e['monthly'].iloc[0]) else 'weekly'}_{'short' if short else 'long'}"
            ranges.setdefault(key, []).append(min(-m[0], m[-1]))
            outer = np.diff(ks[(np.abs(m) > ext + 1e-9)])
            if len(outer):
                kind = f"{'etf' if etf else 'stock'}_{'short' if short else 'long'}"
                wing_mult[kind].append(float(np.median(outer)) / inc)
    tiers: list[list[float]] = []
    for t in range(len(PRICE_TIERS) - 1):
        std = steps.get((t, 0))
        sh = steps.get((t, 1))
        conv = CONVENTION[t]
        tiers.append(
            [
                PRICE_TIERS[t + 1] if math.isfinite(PRICE_TIERS[t + 1]) else 1e9,
                float(pd.Series(std).mode().iloc[0]) if std else conv[0],
                float(pd.Series(sh).mode().iloc[0]) if sh else conv[1],
                float(len(std or [])) + float(len(sh or [])),
            ]
        )
    return {
        "short_dte": SHORT_DTE,
        "tiers": tiers,  # [upper price, standard step, short-dated step, expiries seen (0: convention)]
        "etf_step": 1.0,
        "fine_sd": round(float(np.median(hw_sd)), 3),
        "fine_min": round(float(np.quantile(hw_pct, 0.25)), 4),
        "range": {k: round(float(np.median(v)), 4) for k, v in sorted(ranges.items())},
        "wing_mult": {k: float(_snap(float(np.median(v)))) if v else 2.0 for k, v in wing_mult.items()},
    }


def _snap(x: float) -> float:
    return min((1.0, 2.0, 2.5, 5.0, 10.0), key=lambda v: abs(v - x))


# ------------------------------------------------------------------------------------------ OI and spread
def _profiles(data_dir: Path) -> tuple[dict[str, Profile], dict[str, float]]:
    from simulator.surface import Surface

    surf = json.loads((data_dir / "surfaces.json").read_text())["surfaces"]
    profs = {s: Profile.from_record(r) for s, r in surf.items()}
    atm = {s: Surface.from_record(r).vol(0.0, 30 / 365) for s, r in surf.items()}
    return profs, atm


def _fit_groups(keys: list[str], resid: np.ndarray) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    frame = pd.DataFrame({"k": keys, "r": resid})
    for k, g in frame.groupby("k"):
        r = g["r"].to_numpy()
        if len(r) < 20:
            continue
        mu = float(np.median(r))
        s = float(np.median(np.abs(r - mu)) * 1.4826)
        out[str(k)] = [round(mu, 3), round(max(s, 0.05), 3), len(r)]
    return out


def fit_liquidity(raw: pd.DataFrame, data_dir: Path) -> dict[str, Any]:
    """OI and spread residuals against the symbols' profiles; the zero-bid threshold."""
    profs, atm = _profiles(data_dir)
    d = raw[raw["sym"].isin(list(profs)) & (raw["dte"] > 1) & (raw["dte"] < 400)].copy()
    t = np.maximum(d["dte"].to_numpy() / 365.0, 1 / 365)
    dd = np.abs(d["m"].to_numpy()) / (np.array([atm[s] for s in d["sym"]]) * np.sqrt(t))
    put = (d["optionType"] == "put").to_numpy()
    itm = np.where(put, d["m"].to_numpy() > 0, d["m"].to_numpy() < 0)
    base = np.array(
        [
            profs[s].base_oi(x, tt) * (profs[s].itm_oi_factor if i else 1.0)
            for s, x, tt, i in zip(d["sym"], dd, t, itm, strict=True)
        ]
    )
    dcls = [_cls(x, DTE_EDGES) for x in d["dte"]]
    bins = [_cls(x, D_EDGES) for x in dd]
    oi_keys = [f"{'M' if mo else 'W'}{c}{b}" for mo, c, b in zip(d["monthly"], dcls, bins, strict=True)]
    oi = _fit_groups(oi_keys, np.log(d["oi"].to_numpy() + 1.0) - np.log(np.maximum(base, 1.0)))
    # spreads: two-sided quotes only; model width = profile rel x time value + 0.2 % intrinsic
    s0 = d["underlyingPrice"].to_numpy()
    k = d["strike"].to_numpy()
    intrinsic = np.where(put, np.maximum(k - s0, 0), np.maximum(s0 - k, 0))
    mid = d["mid"].to_numpy()
    tv = np.maximum(mid - intrinsic, 0.05)
    rel_p = np.array([profs[s].rel(x) for s, x in zip(d["sym"], dd, strict=True)])
    width_model = rel_p * tv + 0.002 * intrinsic
    width = (d["ask"] - d["bid"]).to_numpy()
    ok = (d["bid"].to_numpy() > 0) & (width > 0) & (mid >= 0.05)
    sp_keys = [f"{c}{b}{int(i)}" for c, b, i in zip(dcls, bins, itm, strict=True)]
    spread = _fit_groups(
        [kk for kk, o in zip(sp_keys, ok, strict=True) if o],
        np.log(width[ok] / np.maximum(width_model[ok], 0.01)),
    )
    # zero bids: the largest ask (cents) at which most real quotes have no bid
    cheap = d[(d["ask"] > 0) & (d["ask"] <= 0.10)]
    share = cheap.groupby((cheap["ask"] * 100).round())["bid"].apply(lambda b: float((b <= 0).mean()))
    zero_ask = max([float(str(c)) / 100 for c, v in share.items() if v >= 0.5], default=0.01)
    return {
        "dte_edges": list(DTE_EDGES[:-1]),
        "d_edges": [x for x in D_EDGES if math.isfinite(x)],
        "oi": oi,  # key M|W + DTE class + d bin -> [mu, s, n] of ln(OI + 1) - ln(profile OI)
        "spread": spread,  # key DTE class + d bin + itm -> [mu, s, n] of ln(width / profile width)
        "zero_bid_ask": zero_ask,
    }


# ------------------------------------------------------------------------------------------------ figures
def real_figures(raw: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per symbol (first snapshot's underlying levels, all four snapshots): the liquidity figures."""
    out: dict[str, dict[str, float]] = {}
    ev = raw[
        (raw["dte"] >= EVAL["dte_lo"]) & (raw["dte"] <= EVAL["dte_hi"]) & (raw["m"].abs() <= EVAL["m_max"])
    ]
    for sym, g in ev.groupby("sym"):
        out[str(sym)] = _figures(g)
        counts = [
            int((np.abs(e["m"]) <= 0.10).sum())
            for _, e in g[(g["snap"] == "_1") & (g["optionType"] == "put")].groupby("expirationDate")
        ]
        out[str(sym)]["strikes_10pct"] = float(np.median(counts))
    return out


def sim_figures(sim: pd.DataFrame, sym: str) -> dict[str, float]:
    """The figures of one symbol's simulated chains (same contract selection as the real ones)."""
    g = sim[
        (sim["sym"] == sym)
        & (sim["dte"] >= EVAL["dte_lo"])
        & (sim["dte"] <= EVAL["dte_hi"])
        & (sim["m"].abs() <= EVAL["m_max"])
    ]
    fs = _figures(g)
    counts = [
        int((np.abs(e["m"]) <= 0.10).sum()) for _, e in g[g["optionType"] == "put"].groupby("expirationDate")
    ]
    fs["strikes_10pct"] = float(np.median(counts))
    return fs


def _figures(g: pd.DataFrame) -> dict[str, float]:
    rel = g["rel"].where(g["bid"] > 0)
    return {
        "n": float(len(g)),
        "oi_lt_100": round(float((g["oi"] < 100).mean()), 3),
        "spread_gt_10pct": round(float(((g["rel"] > 0.10) | (g["bid"] <= 0)).mean()), 3),
        "zero_bid": round(float((g["bid"] <= 0).mean()), 3),
        "median_rel_spread": round(float(rel.median()), 4),
    }


def simulated_frame(symbols: list[str], when: datetime, data_dir: Path | None = None) -> pd.DataFrame:
    """The simulator's chains of ``symbols`` at ``when`` in the same columns as :func:`load_raw`."""
    from simulator.market import Market

    market = Market(data_dir, seed=7, clock=lambda: when)
    rows = []
    today = when.date()
    for sym in symbols:
        s0 = market.spot(sym)
        for opt in market.find_options(sym):
            exp = datetime.strptime(opt.expiry, "%Y%m%d").date()
            q = market.option_quote(opt)
            mid = (q.bid + q.ask) / 2
            rows.append(
                {
                    "sym": sym,
                    "snap": "_1",
                    "expirationDate": opt.expiry,
                    "optionType": "put" if opt.right == "P" else "call",
                    "strike": opt.strike,
                    "dte": (exp - today).days + 0.15,
                    "m": math.log(opt.strike / s0),
                    "bid": q.bid,
                    "ask": q.ask,
                    "mid": mid,
                    "rel": (q.ask - q.bid) / mid if mid > 0 else math.nan,
                    "oi": q.open_interest,
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", default=str(REPO.parent / "shared" / "marketdata"))
    p.add_argument("--out", default=str(REPO / "simulator" / "data"))
    p.add_argument("--no-check", action="store_true", help="skip the real-vs-simulated figures")
    args = p.parse_args(argv)
    out = Path(args.out)
    raw = load_raw(Path(args.source) / "options" / "chains_2026-02")
    cal: dict[str, Any] = {
        "source": "options/chains_2026-02 (4 yfinance snapshots, 2026-02-11..13)",
        "spacing": fit_spacing(raw),
        "liquidity": fit_liquidity(raw, out),
        "eval": EVAL,
        "real_figures": real_figures(raw),  # the targets tests/simulator/test_calibration.py checks
    }
    (out / "calibration.json").write_text(json.dumps(cal, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out / 'calibration.json'}")
    sp = cal["spacing"]
    print("spacing tiers [upper $, standard step, short-dated step, expiries seen]:", sp["tiers"])
    print(
        f"fine band: {sp['fine_sd']} sd, at least {sp['fine_min']:.1%}; range {sp['range']};",
        f"wings {sp['wing_mult']}",
    )
    if args.no_check:
        return
    real = cal["real_figures"]
    syms = [s for s in real if s != "IBIT"]
    when = datetime(2026, 2, 11, 17, 27, tzinfo=UTC)  # the first snapshot, 12:27 ET
    sim = simulated_frame(syms, when, out)
    keys = ("oi_lt_100", "spread_gt_10pct", "zero_bid", "median_rel_spread", "strikes_10pct")
    print(f"{'symbol':6} " + " ".join(f"{k:>22}" for k in keys) + "   (real / simulated)")
    tot: dict[str, list[float]] = {k: [0.0, 0.0] for k in keys}
    for sym in syms:
        fs = sim_figures(sim, sym)
        print(f"{sym:6} " + " ".join(f"{real[sym][k]:>10.3f} / {fs[k]:<9.3f}" for k in keys))
        for k in keys:
            tot[k][0] += real[sym][k] / len(syms)
            tot[k][1] += fs[k] / len(syms)
    print(f"{'mean':6} " + " ".join(f"{tot[k][0]:>10.3f} / {tot[k][1]:<9.3f}" for k in keys))


if __name__ == "__main__":
    main()
