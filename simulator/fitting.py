"""Fit IV smiles, open-interest and bid-ask profiles from the 2026-02 yfinance option-chain snapshots.

Smile model per DTE bucket (see :mod:`simulator.surface`): sigma(x) = a + b x + c x^2 with x = k / sqrt(T),
k = ln(K / F), T in years.  Scaling k by sqrt(T) keeps parameters comparable across maturities
(equity skew decays roughly like 1/sqrt(T): Gatheral, "The Volatility Surface", 2006, ch. 3).

Cleaning (the quirks listed in the marketdata README): forward F per (snapshot, expiry) from put-call parity
at the strikes nearest the money (F = K + e^{rT}(C - P)), because ``underlyingPrice`` is not in sync;
T recomputed from the snapshot time to 16:00 ET on the expiry; rows with IV < 0.001 (the 1e-5 artefact),
bid <= 0, bid >= ask, mid < $0.05, relative spread > 50 % or a last trade > 5 days before the snapshot are
dropped; IVs are recomputed from the mid with BSM on the forward; only OTM options (puts K < F, calls K >= F)
with |k| <= 4 IV sqrt(T) are fitted; a 3.5 x MAD outlier pass removes stale strikes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.pricing import implied_vol

CHAIN_SYMBOLS = ("SPY", "QQQ", "AAPL", "AMZN", "NVDA", "TSLA")
BUCKETS = (7, 14, 30, 45, 60, 90, 180, 365)  # DTE buckets (calendar days)
D_EDGES = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # |k| / (atm sigma sqrt T) bins for OI and spreads
VRP = 1.15  # variance-risk premium: implied ATM vol / 60-day realized vol for symbols without chains
RATE = 0.04
#: snapshot file suffix -> snapshot time (America/New_York), from the marketdata README
SNAPSHOTS = {
    "": "2026-02-11 12:27",
    "_2": "2026-02-12 10:10",
    "_3": "2026-02-12 13:00",
    "_4": "2026-02-13 10:50",
}
_BW = 0.55  # half-width of the triangular bucket kernel in ln(T)


def load_snapshot(path: Path, taken: pd.Timestamp) -> pd.DataFrame:
    """Clean one chain snapshot: rows with T, F, k, x, recomputed iv, mid, rel_spread, oi and an otm flag."""
    df = pd.read_csv(path)
    expiry_close = pd.to_datetime(df["expirationDate"]).dt.tz_localize("America/New_York") + pd.Timedelta(
        hours=16
    )
    df["T"] = (expiry_close - taken).dt.total_seconds() / (365.0 * 86400.0)
    df["mid"] = (df["bid"] + df["ask"]) / 2.0
    ok = (df["bid"] > 0) & (df["ask"] > df["bid"]) & (df["impliedVolatility"] > 1e-3) & (df["T"] > 1.5 / 365)
    last = pd.to_datetime(df["lastTradeDate"], utc=True)
    ok &= (taken.tz_convert("UTC") - last) < pd.Timedelta(days=5)
    df["oi"] = df["openInterest"].fillna(0)
    df["rel_spread"] = (df["ask"] - df["bid"]) / df["mid"]
    rows = []
    for _, g in df[ok].groupby("expirationDate"):
        calls = g[g["optionType"] == "call"].set_index("strike")
        puts = g[g["optionType"] == "put"].set_index("strike")
        both = calls.index.intersection(puts.index)
        if len(both) < 3:
            continue
        t = float(g["T"].iloc[0])
        s0 = float(g["underlyingPrice"].iloc[0])
        strikes = [float(k) for k in both]
        near = sorted(strikes, key=lambda k: abs(k - s0))[:5]
        cmid, pmid = calls["mid"], puts["mid"]
        fwd = float(np.median([k + math.exp(RATE * t) * (float(cmid[k]) - float(pmid[k])) for k in near]))
        g = g.assign(F=fwd, k=np.log(g["strike"] / fwd))
        g = g.assign(
            otm=((g["optionType"] == "put") & (g["k"] < 0)) | ((g["optionType"] == "call") & (g["k"] >= 0))
        )
        rows.append(g)
    if not rows:
        return pd.DataFrame()
    out = pd.concat(rows)
    out["x"] = out["k"] / np.sqrt(out["T"])
    out["iv"] = [
        implied_vol(m, f * math.exp(-RATE * t), kk, t, RATE, 0.0, "C" if ty == "call" else "P") or np.nan
        for m, f, kk, t, ty in zip(
            out["mid"], out["F"], out["strike"], out["T"], out["optionType"], strict=True
        )
    ]
    return out


def load_chains(folder: Path, symbol: str) -> pd.DataFrame:
    """All four snapshots of one symbol, cleaned (see :func:`load_snapshot`), with a ``snap`` column."""
    frames = []
    for suffix, when in SNAPSHOTS.items():
        path = folder / f"{symbol}_options{suffix}.csv"
        if path.exists():
            frames.append(
                load_snapshot(path, pd.Timestamp(when, tz="America/New_York")).assign(snap=suffix or "_1")
            )
    return pd.concat(frames, ignore_index=True)


def fit_points(ch: pd.DataFrame) -> pd.DataFrame:
    """The OTM points a smile is fitted to (valid iv, |k| <= 4 iv sqrt T, T <= 1.1 y)."""
    p = ch[ch["otm"] & ch["iv"].notna() & (ch["mid"] >= 0.05) & (ch["rel_spread"] <= 0.5) & (ch["T"] <= 1.1)]
    return p[np.abs(p["k"]) <= 4.0 * p["iv"] * np.sqrt(p["T"])]


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    a = np.vstack([np.ones_like(x), x, x * x]).T * np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(a, y * np.sqrt(w), rcond=None)
    return coef


def fit_buckets(pts: pd.DataFrame) -> dict[str, list[float]]:
    """Per DTE bucket: a (ATM iv), b (skew), c (curvature), fitted x range, RMSE; kernel-weighted WLS."""
    res: dict[str, list[float]] = {k: [] for k in ("atm", "skew", "curv", "x_lo", "x_hi", "rmse", "n")}
    lt = np.log(pts["T"].to_numpy())
    x_all, y_all = pts["x"].to_numpy(), pts["iv"].to_numpy()
    # standardised distance from the money: the 10-40 delta strikes a wheel trades matter most
    w_money = 1.0 / (1.0 + (x_all / y_all) ** 2)
    for dte in BUCKETS:
        w = np.clip(1.0 - np.abs(lt - math.log(dte / 365.0)) / _BW, 0.0, None) * w_money
        m = w > 0
        if m.sum() < 15:
            for key in res:
                res[key].append(math.nan)
            continue
        x, y, ww = x_all[m], y_all[m], w[m]
        coef = _wls(x, y, ww)
        for _ in range(2):  # robust pass: drop stale/outlying strikes
            r = y - (coef[0] + coef[1] * x + coef[2] * x * x)
            mad = np.median(np.abs(r - np.median(r))) + 1e-4
            keep = np.abs(r) <= 3.5 * 1.4826 * mad
            coef = _wls(x[keep], y[keep], ww[keep])
        r = (y - (coef[0] + coef[1] * x + coef[2] * x * x))[keep]
        c = max(float(coef[2]), 0.0)  # a concave smile would imply a negative density in the wings
        vals = [
            float(coef[0]),
            float(coef[1]),
            c,
            float(np.quantile(x[keep], 0.02)),
            float(np.quantile(x[keep], 0.98)),
            float(np.sqrt(np.average(r * r, weights=ww[keep]))),
            float(keep.sum()),
        ]
        for key, v in zip(res, vals, strict=True):
            res[key].append(round(v, 5))
    _fill_nan(res)
    return res


def _fill_nan(res: dict[str, list[float]]) -> None:
    """Copy the nearest fitted bucket into buckets without data."""
    good = [i for i, v in enumerate(res["atm"]) if not math.isnan(v)]
    for key, vals in res.items():
        for i, v in enumerate(vals):
            if math.isnan(v):
                nearest = min(good, key=lambda j: abs(j - i))  # noqa: B023
                vals[i] = vals[nearest]
        res[key] = vals


def _bin_profile(d: np.ndarray, v: np.ndarray, lt: np.ndarray | None) -> Any:
    """Median of v by |d| bin (and by DTE bucket when lt = ln T is given); empty cells take the neighbour."""
    edges = np.array((*D_EDGES, np.inf))
    idx = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, len(D_EDGES) - 1)

    def by_bin(mask: np.ndarray) -> list[float]:
        vals = [
            float(np.median(v[mask & (idx == i)])) if (mask & (idx == i)).sum() >= 3 else math.nan
            for i in range(len(D_EDGES))
        ]
        last = next((x for x in vals if not math.isnan(x)), 0.0)
        for i, x in enumerate(vals):
            vals[i] = last = last if math.isnan(x) else round(x, 4)
        return vals

    if lt is None:
        return by_bin(np.ones_like(d, dtype=bool))
    bucket = np.argmin(np.abs(lt[:, None] - np.log(np.array(BUCKETS) / 365.0)[None, :]), axis=1)
    rows = [by_bin(bucket == b) for b in range(len(BUCKETS))]
    return rows


def fit_symbol(folder: Path, symbol: str) -> tuple[dict[str, Any], float]:
    """Surface record of one chain symbol and the overall fit RMSE in vol points."""
    ch = load_chains(folder, symbol)
    pts = fit_points(ch)
    smile = fit_buckets(pts)
    atm30 = smile["atm"][BUCKETS.index(30)]
    d = np.abs(ch["k"].to_numpy()) / (atm30 * np.sqrt(ch["T"].to_numpy()))
    lt = np.log(ch["T"].to_numpy())
    otm = ch["otm"].to_numpy()
    oi = ch["oi"].to_numpy(float)
    oi_otm = _bin_profile(d[otm], oi[otm], lt[otm])
    oi_itm = _bin_profile(d[~otm], oi[~otm], None)
    oi_otm_flat = _bin_profile(d[otm], oi[otm], None)
    ratios = [i / o for i, o in zip(oi_itm, oi_otm_flat, strict=True) if o > 0]
    cheap = ch["mid"].to_numpy() >= 0.20
    spread = _bin_profile(d[otm & cheap], ch["rel_spread"].to_numpy()[otm & cheap], None)
    model = _eval(smile, pts["x"].to_numpy(), pts["T"].to_numpy())
    err = float(np.sqrt(np.mean((model - pts["iv"].to_numpy()) ** 2)) * 100.0)
    rec: dict[str, Any] = {
        "source": "fit",
        "buckets": list(BUCKETS),
        **smile,
        "d_edges": list(D_EDGES),
        "oi": oi_otm,
        "itm_oi_factor": round(float(np.median(ratios)), 3) if ratios else 0.5,
        "rel_spread": spread,
        "points": int(len(pts)),
    }
    return rec, round(err, 3)


def _eval(smile: dict[str, list[float]], x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Vectorised surface evaluation (same formula as simulator.surface) for fit diagnostics."""
    from simulator.surface import Surface

    s = Surface.from_record({"buckets": list(BUCKETS), **smile})
    return np.array([s.vol(float(xx * math.sqrt(tt)), float(tt)) for xx, tt in zip(x, t, strict=True)])


def generic_surface(
    donors: list[dict[str, Any]], rv60: float, dollar_vol: float, donor_dollar_vols: list[float]
) -> dict[str, Any]:
    """Surface for a symbol without chain snapshots.

    ATM vol = 60-day realized vol x VRP (1.15; implied vol exceeds realized on average: Carr & Wu 2009,
    "Variance Risk Premiums", Rev. Fin. Studies 22), times the donors' (AAPL, AMZN) ATM term structure
    relative to 30 days (clipped to 0.85..1.25).  The smile keeps the donors' shape in z = k / (a sqrt T),
    i.e. in standard deviations: sigma = a f(z), so b = b_donor, c = c_donor a_donor / a, and the x range
    scales by a / a_donor.
    Open interest scales with sqrt(dollar volume / donors'), clipped to 0.02..1; spreads widen by
    scale^-0.25, at most 3x.
    """
    n = len(BUCKETS)
    i30 = BUCKETS.index(30)

    def mean(vals: list[float]) -> float:
        return sum(vals) / len(vals)

    term = [min(1.25, max(0.85, mean([dn["atm"][i] / dn["atm"][i30] for dn in donors]))) for i in range(n)]
    atm = [rv60 * VRP * tm for tm in term]
    skew = [mean([dn["skew"][i] for dn in donors]) for i in range(n)]
    curv = [mean([dn["curv"][i] * dn["atm"][i] for dn in donors]) / atm[i] for i in range(n)]
    x_lo = [mean([dn["x_lo"][i] / dn["atm"][i] for dn in donors]) * atm[i] for i in range(n)]
    x_hi = [mean([dn["x_hi"][i] / dn["atm"][i] for dn in donors]) * atm[i] for i in range(n)]
    scale = min(1.0, max(0.02, math.sqrt(dollar_vol / mean(donor_dollar_vols))))
    oi = [
        [round(mean([dn["oi"][b][j] for dn in donors]) * scale, 1) for j in range(len(D_EDGES))]
        for b in range(n)
    ]
    widen = min(3.0, scale**-0.25)
    spread = [round(mean([dn["rel_spread"][j] for dn in donors]) * widen, 4) for j in range(len(D_EDGES))]
    return {
        "source": "generic",
        "buckets": list(BUCKETS),
        "atm": [round(v, 5) for v in atm],
        "skew": [round(v, 5) for v in skew],
        "curv": [round(v, 5) for v in curv],
        "x_lo": [round(v, 4) for v in x_lo],
        "x_hi": [round(v, 4) for v in x_hi],
        "d_edges": list(D_EDGES),
        "oi": oi,
        "rel_spread": spread,
        "itm_oi_factor": round(mean([dn["itm_oi_factor"] for dn in donors]), 3),
    }
