"""Build the simulator's compact, derived market data from the raw files in ``../shared/marketdata``.

Usage: ``python -m simulator.build_data [--source ../shared/marketdata] [--out simulator/data]``.

Writes ``underlyings.json`` (specs and statistics), ``bars/<SYM>.csv.gz`` (raw daily OHLCV, two years),
``surfaces.json`` (IV smiles, open-interest and spread profiles), ``earnings.json`` and ``dividends.json``
(ex-dividend dates).  The smile fit lives in :mod:`simulator.fitting`.  Statistics: realized vol = stdev of
daily log returns of the dividend-adjusted close x sqrt(252); dividend yield = trailing-year dividends / close
(continuous).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.fitting import CHAIN_SYMBOLS, VRP, fit_symbol, generic_surface
from simulator.listing import strike_increment

REPO = Path(__file__).resolve().parent.parent
BARS_SESSIONS = 504  # two years of sessions shipped per symbol
ETFS = {"SPY", "QQQ", "IWM"}  # index ETFs: $1 strikes at any price, more weeklies (SOXX lists like a stock)

#: (IB conId, long name, primary exchange).  conIds are IB's where known; others are deterministic.
META: dict[str, tuple[int, str, str]] = {
    "SPY": (756733, "SPDR S&P 500 ETF TRUST", "ARCA"),
    "QQQ": (320227571, "INVESCO QQQ TRUST SERIES 1", "NASDAQ"),
    "IWM": (9579970, "ISHARES RUSSELL 2000 ETF", "ARCA"),
    "SOXX": (42006426, "ISHARES SEMICONDUCTOR ETF", "NASDAQ"),
    "AAPL": (265598, "APPLE INC", "NASDAQ"),
    "ABBV": (118089500, "ABBVIE INC", "NYSE"),
    "AMD": (4391, "ADVANCED MICRO DEVICES", "NASDAQ"),
    "AMZN": (3691937, "AMAZON.COM INC", "NASDAQ"),
    "BAC": (10098, "BANK OF AMERICA CORP", "NYSE"),
    "C": (4502, "CITIGROUP INC", "NYSE"),
    "CSCO": (268084, "CISCO SYSTEMS INC", "NASDAQ"),
    "CVX": (5679, "CHEVRON CORP", "NYSE"),
    "DIS": (6459, "WALT DISNEY CO/THE", "NYSE"),
    "F": (9599491, "FORD MOTOR CO", "NYSE"),
    "GOOG": (208813720, "ALPHABET INC-CL C", "NASDAQ"),
    "GOOGL": (208813719, "ALPHABET INC-CL A", "NASDAQ"),
    "INTC": (270639, "INTEL CORP", "NASDAQ"),
    "JPM": (1520593, "JPMORGAN CHASE & CO", "NYSE"),
    "KO": (8894, "COCA-COLA CO/THE", "NYSE"),
    "META": (107113386, "META PLATFORMS INC-CLASS A", "NASDAQ"),
    "MRK": (11118, "MERCK & CO. INC.", "NYSE"),
    "MSFT": (272093, "MICROSOFT CORP", "NASDAQ"),
    "MU": (9939, "MICRON TECHNOLOGY INC", "NASDAQ"),
    "NFLX": (15124833, "NETFLIX INC", "NASDAQ"),
    "NVDA": (4815747, "NVIDIA CORP", "NASDAQ"),
    "ORCL": (272800, "ORACLE CORP", "NYSE"),
    "PFE": (11044, "PFIZER INC", "NYSE"),
    "T": (37018770, "AT&T INC", "NYSE"),
    "TSLA": (76792991, "TESLA INC", "NASDAQ"),
    "VZ": (12442, "VERIZON COMMUNICATIONS INC", "NYSE"),
    "WFC": (10375, "WELLS FARGO & CO", "NYSE"),
    "WMT": (13824, "WALMART INC", "NYSE"),
    "XOM": (13977, "EXXON MOBIL CORP", "NYSE"),
}


def unadjust(df: pd.DataFrame) -> pd.DataFrame:
    """Undo Yahoo's dividend adjustment of an OHLC frame with a ``Dividends`` (+ ``Capital Gains``) column.

    Yahoo multiplies every price before an ex-date by (1 - D / C_prev), C_prev the raw close before the
    ex-date.  Walking backwards with F = product of later factors: raw_prev = adj_prev / F + D, then
    F_prev = adj_prev / raw_prev.
    """
    dist = df["Dividends"].fillna(0.0) + df.get("Capital Gains", pd.Series(0.0, index=df.index)).fillna(0.0)
    adj = df["Close"].to_numpy(float)
    d = dist.to_numpy(float)
    factor = np.ones(len(df))
    f = 1.0
    for i in range(len(df) - 1, -1, -1):
        factor[i] = f
        if i > 0 and d[i] > 0:
            raw_prev = adj[i - 1] / f + d[i]
            f = adj[i - 1] / raw_prev
    out = pd.DataFrame(index=df.index)
    for col in ("Open", "High", "Low", "Close"):
        out[col] = df[col].to_numpy(float) / factor
    out["Adj Close"] = adj
    out["Volume"] = df["Volume"].fillna(0).astype("int64")
    out["Dividends"] = d
    return out


def load_bars(src: Path) -> dict[str, pd.DataFrame]:
    """Raw (not dividend-adjusted) daily bars per symbol with an ``Adj Close`` and ``Dividends`` column."""
    frames: dict[str, pd.DataFrame] = {}
    for f in sorted((src / "ohlcv" / "stocks_2023-09_2025-09").glob("*.csv")):
        df = pd.read_csv(f, skiprows=[1, 2], index_col=0, parse_dates=True)
        df["Dividends"] = np.nan
        frames[f.stem] = df
    for sym in (
        "SPY",
        "QQQ",
        "NVDA",
        "SOXX",
    ):  # NVDA: the ETF file runs to 2026-08, longer than the stock file
        df = pd.read_csv(src / "ohlcv" / "etf_vix_2020_2026-08" / f"{sym}.csv", index_col=0, parse_dates=True)
        frames[sym] = unadjust(df)
    iwm = pd.read_csv(
        src / "ohlcv" / "IWM_2000_2025-09.csv", skiprows=[1, 2, 3], index_col=0, parse_dates=True
    )
    frames["IWM"] = iwm.rename(columns={"Price": "Adj Close", "Price.1": "Adj Close"}).assign(
        Dividends=np.nan
    )
    for df in frames.values():
        df.index = pd.DatetimeIndex(df.index).tz_localize(None).normalize()
    return {s: df.dropna(subset=["Close"]).sort_index() for s, df in frames.items() if s in META}


def realized_vol(adj_close: pd.Series, n: int) -> float:
    """Annualized stdev of the last ``n`` daily log returns (fraction)."""
    r = np.diff(np.log(adj_close.to_numpy(float)))[-n:]
    return float(np.std(r, ddof=1) * math.sqrt(252.0))


def dividend_yield(df: pd.DataFrame) -> float:
    """Trailing-12-month continuous dividend yield: from the Dividends column, else from Adj Close / Close."""
    last = df.index[-1]
    year = df[df.index > last - pd.Timedelta(days=365)]
    if df["Dividends"].notna().any():
        return float(year["Dividends"].sum() / df["Close"].iloc[-1])
    ratio = (df["Adj Close"] / df["Close"]).to_numpy(float)
    start = len(df) - len(year) - 1
    return float(max(0.0, math.log(ratio[-1] / ratio[max(start, 0)])))


def underlying_stats(sym: str, df: pd.DataFrame, sym_index: int) -> dict[str, Any]:
    """Spec and statistics of one underlying, as stored in underlyings.json."""
    con_id, name, exch = META[sym]
    close = float(df["Close"].iloc[-1])
    tail = df.iloc[-60:]
    return {
        "symbol": sym,
        "index": sym_index,
        "con_id": con_id,
        "long_name": name,
        "primary_exchange": exch,
        "etf": sym in ETFS,
        "last_date": df.index[-1].strftime("%Y-%m-%d"),
        "last_close": round(close, 2),
        "rv20": round(realized_vol(df["Adj Close"], 20), 4),
        "rv60": round(realized_vol(df["Adj Close"], 60), 4),
        "rv252": round(realized_vol(df["Adj Close"], 252), 4),
        "div_yield": round(dividend_yield(df), 4),
        "strike_increment": strike_increment(close, sym in ETFS),
        "avg_volume": int(tail["Volume"].mean()),
        "avg_dollar_volume": float((tail["Volume"] * tail["Close"]).mean()),
    }


def write_bars(out: Path, sym: str, df: pd.DataFrame) -> None:
    """``bars/<SYM>.csv.gz``: date,open,high,low,close,volume (raw prices rounded to cents)."""
    tail = df.iloc[-BARS_SESSIONS:]
    buf = io.StringIO()
    buf.write("date,open,high,low,close,volume\n")
    for ts, row in tail.iterrows():
        buf.write(
            f"{ts:%Y%m%d},{row['Open']:.2f},{row['High']:.2f},{row['Low']:.2f},{row['Close']:.2f},"
            f"{int(row['Volume'])}\n"
        )
    (out / "bars").mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(out / "bars" / f"{sym}.csv.gz", "wb", mtime=0) as gz:
        gz.write(buf.getvalue().encode())


def build_earnings(src: Path, symbols: list[str]) -> dict[str, dict[str, list[str]]]:
    """Reported earnings dates per symbol, plus dates projected 52 weeks on from the last four (flagged)."""
    mega = pd.read_csv(src / "earnings" / "megacaps_2014-2026.csv", parse_dates=["date"])
    hist = pd.read_csv(src / "earnings" / "history_to_2023-08.csv", parse_dates=["earnings_date"])
    out: dict[str, dict[str, list[str]]] = {}
    horizon = pd.Timestamp("2027-12-31")
    for sym in symbols:
        dates = sorted(set(mega.loc[mega["ticker"] == sym, "date"]))
        source = "megacaps_2014-2026.csv"
        if not dates:
            dates = sorted(set(hist.loc[hist["ticker"] == sym, "earnings_date"]))
            source = "history_to_2023-08.csv"
        if not dates:
            continue
        dates = [d for d in dates if d >= pd.Timestamp("2022-01-01")]
        projected: list[pd.Timestamp] = []
        last4 = dates[-4:]
        k = 1
        while last4 and min(last4) + pd.Timedelta(weeks=52 * k) <= horizon:
            projected += [
                d + pd.Timedelta(weeks=52 * k) for d in last4 if d + pd.Timedelta(weeks=52 * k) <= horizon
            ]
            k += 1
        out[sym] = {
            "source": [source],
            "reported": [d.strftime("%Y-%m-%d") for d in dates],
            "projected": [d.strftime("%Y-%m-%d") for d in sorted(projected)],
        }
    return out


def ex_dividends(df: pd.DataFrame) -> list[tuple[pd.Timestamp, float]]:
    """(ex-date, cash amount per share) from the Dividends column, else from the jumps of Adj Close / Close
    (Yahoo scales every price before an ex-date by 1 - D / C_prev, so D = C_prev (1 - r_prev / r))."""
    if df["Dividends"].notna().any():
        paid = df[df["Dividends"].fillna(0.0) > 0]
        return [
            (pd.Timestamp(d), round(float(a), 4)) for d, a in zip(paid.index, paid["Dividends"], strict=True)
        ]
    if "Adj Close" not in df:
        return []
    close = df["Close"].to_numpy(float)
    ratio = (df["Adj Close"] / df["Close"]).to_numpy(float)
    out: list[tuple[pd.Timestamp, float]] = []
    for i in range(1, len(df)):
        if ratio[i] / ratio[i - 1] - 1.0 > 2e-4:  # above the rounding noise of the adjusted prices
            out.append(
                (pd.Timestamp(df.index[i]), round(float(close[i - 1] * (1.0 - ratio[i - 1] / ratio[i])), 4))
            )
    return out


def build_dividends(bars: dict[str, pd.DataFrame]) -> dict[str, dict[str, list[list[Any]]]]:
    """Ex-dividend dates and amounts per symbol: reported ones (2023 on), plus the last four projected
    52 weeks on (same amount) to the end of 2027, flagged ``projected`` (not for a symbol that skipped its
    last quarter, e.g. INTC's suspension in 2024); symbols paying none are left out."""
    horizon = pd.Timestamp("2027-12-31")
    out: dict[str, dict[str, list[list[Any]]]] = {}
    for sym, df in sorted(bars.items()):
        paid = [(d, a) for d, a in ex_dividends(df) if d >= pd.Timestamp("2023-01-01") and a > 0]
        if not paid:
            continue
        projected: list[tuple[pd.Timestamp, float]] = []
        k = 1
        suspended = paid[-1][0] < df.index[-1] - pd.Timedelta(days=130)  # no payment for a quarter
        while not suspended and min(d for d, _ in paid[-4:]) + pd.Timedelta(weeks=52 * k) <= horizon:
            projected += [
                (d + pd.Timedelta(weeks=52 * k), a)
                for d, a in paid[-4:]
                if paid[-1][0] < d + pd.Timedelta(weeks=52 * k) <= horizon
            ]
            k += 1
        out[sym] = {
            "reported": [[d.strftime("%Y-%m-%d"), a] for d, a in paid],
            "projected": [[d.strftime("%Y-%m-%d"), a] for d, a in sorted(projected)],
        }
    return out


INDEX_BARS = {"VIX": "^VIX.csv"}  # index symbol -> file in ohlcv/etf_vix_2020_2026-08


def write_index_bars(src: Path, out: Path) -> None:
    """``index/<SYM>.csv.gz``: the index's daily OHLC (last ``BARS_SESSIONS`` sessions, volume 0)."""
    (out / "index").mkdir(parents=True, exist_ok=True)
    for sym, name in INDEX_BARS.items():
        df = pd.read_csv(src / "ohlcv" / "etf_vix_2020_2026-08" / name, parse_dates=["Date"])
        df = df.dropna(subset=["Close"]).set_index("Date").sort_index()
        tail = df.iloc[-BARS_SESSIONS:]
        buf = io.StringIO()
        buf.write("date,open,high,low,close,volume\n")
        for ts, row in tail.iterrows():
            buf.write(
                f"{ts:%Y%m%d},{row['Open']:.2f},{row['High']:.2f},{row['Low']:.2f},{row['Close']:.2f},0\n"
            )
        with gzip.GzipFile(out / "index" / f"{sym}.csv.gz", "wb", mtime=0) as gz:
            gz.write(buf.getvalue().encode())


def build(src: Path, out: Path) -> dict[str, Any]:
    """Run the whole conversion; returns a summary (sizes, fit errors)."""
    out.mkdir(parents=True, exist_ok=True)
    bars = load_bars(src)
    symbols = sorted(bars)
    unders = {s: underlying_stats(s, bars[s], i) for i, s in enumerate(symbols)}
    for s in symbols:
        write_bars(out, s, bars[s])
    write_index_bars(src, out)
    surfaces: dict[str, dict[str, Any]] = {}
    fit_err: dict[str, float] = {}
    for s in CHAIN_SYMBOLS:
        surfaces[s], fit_err[s] = fit_symbol(src / "options" / "chains_2026-02", s)
    donors = [surfaces[s] for s in ("AAPL", "AMZN")]
    for s in symbols:
        if s not in surfaces:
            u = unders[s]
            surfaces[s] = generic_surface(
                donors,
                float(u["rv60"]),
                float(u["avg_dollar_volume"]),
                [float(unders[d]["avg_dollar_volume"]) for d in ("AAPL", "AMZN")],
            )
    (out / "underlyings.json").write_text(json.dumps(unders, indent=1))
    (out / "surfaces.json").write_text(json.dumps({"vrp": VRP, "surfaces": surfaces}, separators=(",", ":")))
    (out / "earnings.json").write_text(json.dumps(build_earnings(src, symbols), separators=(",", ":")))
    (out / "dividends.json").write_text(json.dumps(build_dividends(bars), separators=(",", ":")))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"symbols": len(symbols), "bytes": size, "fit_rmse_vol_points": fit_err}


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--source", type=Path, default=REPO.parent / "shared" / "marketdata")
    ap.add_argument("--out", type=Path, default=REPO / "simulator" / "data")
    args = ap.parse_args(argv)
    print(json.dumps(build(args.source, args.out), indent=1))


if __name__ == "__main__":
    main()
