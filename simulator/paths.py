"""Price paths of the simulated underlyings: real daily bars, a seeded daily random walk after them, and a
per-second intraday path inside each session.

After the last real bar each session's close follows geometric Brownian motion (Hull ch. 14):
C_i = C_{i-1} exp(-sigma^2 / 504 + sigma / sqrt(252) z_i), sigma = the symbol's 252-day realized vol, with
z_i drawn from a generator seeded by (seed, symbol index, session date) so a date's move does not depend on
when it was first computed.  The open gaps from the previous close by 0.2 daily sigma; inside the session a
Brownian bridge (per second) joins open and close, so intraday quotes, the day's high/low and the daily bar
agree.
"""

from __future__ import annotations

import bisect
import gzip
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.listing import load_calendar


def mix64(*vals: int) -> int:
    """Deterministic 64-bit hash of integers (splitmix64 finaliser), stable across processes."""
    h = 0x9E3779B97F4A7C15
    for v in vals:
        h = (h ^ (v & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h


def unit_normal(*vals: int) -> float:
    """A deterministic standard-normal draw from integers (Box-Muller on two mix64 uniforms)."""
    u1 = (mix64(*vals, 1) >> 11) / float(1 << 53) + 1e-16
    u2 = (mix64(*vals, 2) >> 11) / float(1 << 53)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


class SessionTable:
    """XNYS sessions with open/close instants as epoch seconds (UTC); early closes included."""

    def __init__(self, start: date, end: date) -> None:
        cal = load_calendar(start, end)
        sched = cal.schedule.loc[pd.Timestamp(start) : pd.Timestamp(end)]
        self.start, self.end = start, end
        self.dates: list[date] = [d.date() for d in sched.index]
        self.opens: list[int] = [int(t.timestamp()) for t in sched["open"]]
        self.closes: list[int] = [int(t.timestamp()) for t in sched["close"]]
        self.calendar = cal

    def index_on_or_before(self, d: date) -> int:
        """Index of the last session dated <= d (-1 if none)."""
        return bisect.bisect_right(self.dates, d) - 1

    def latest_started(self, ts: int) -> int:
        """Index of the last session whose open is <= ts (epoch seconds), -1 if none."""
        return bisect.bisect_right(self.opens, ts) - 1


@dataclass
class RealBars:
    """Shipped real daily bars of one symbol (raw prices)."""

    dates: list[date]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[int]


def read_bars(path: Path) -> RealBars:
    """Real daily bars from a gzipped CSV (header; date YYYYMMDD, open, high, low, close, volume)."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()[1:]
    cols = [ln.split(",") for ln in lines]
    return RealBars(
        [datetime.strptime(c[0], "%Y%m%d").date() for c in cols],
        [float(c[1]) for c in cols],
        [float(c[2]) for c in cols],
        [float(c[3]) for c in cols],
        [float(c[4]) for c in cols],
        [int(c[5]) for c in cols],
    )


class PricePath:
    """Daily closes and intraday path of one symbol on a :class:`SessionTable`."""

    def __init__(
        self,
        sym_index: int,
        seed: int,
        real: RealBars,
        sigma: float,
        avg_volume: int,
        sessions: SessionTable,
        jumps: dict[date, float] | None = None,
    ) -> None:
        """``jumps``: session date -> stdev (fraction) of an extra log-price move at that session's open (an
        earnings reaction; only on sessions past the real data). The move lasts: that session's close and
        every later one carry it, as the market re-prices the stock on the report."""
        self.idx, self.seed, self.real, self.sigma, self.avg_volume = sym_index, seed, real, sigma, avg_volume
        self.jumps = jumps or {}
        self.sessions = sessions
        self.base = sessions.index_on_or_before(real.dates[0])
        self.n_real = sessions.index_on_or_before(real.dates[-1]) - self.base + 1
        by_date = dict(zip(real.dates, range(len(real.dates)), strict=True))
        # session-aligned real rows (a session missing from the file repeats the previous row)
        self._rows: list[int] = []
        last = 0
        for i in range(self.n_real):
            last = by_date.get(sessions.dates[self.base + i], last)
            self._rows.append(last)
        self._closes: list[float] = [real.close[r] for r in self._rows]
        self._opens: list[float] = [real.open[r] for r in self._rows]
        self._intraday: dict[int, np.ndarray] = {}
        self._bars: dict[int, tuple[float, float, float, float, int]] = {}

    def _extend(self, i: int) -> None:
        sd = self.sigma / math.sqrt(252.0)
        while self.base + len(self._closes) <= i:
            j = self.base + len(self._closes)
            ordinal = self.sessions.dates[j].toordinal()
            z0, z1 = (
                unit_normal(self.seed, self.idx, ordinal, 0),
                unit_normal(self.seed, self.idx, ordinal, 1),
            )
            prev = self._closes[-1]
            js = self.jumps.get(self.sessions.dates[j], 0.0)
            jump = js * unit_normal(self.seed, self.idx, ordinal, 2) - 0.5 * js * js if js else 0.0
            self._opens.append(prev * math.exp(0.2 * sd * z1 + jump))  # the gap, and the jump on a report
            self._closes.append(prev * math.exp(-0.5 * sd * sd + sd * z0 + jump))

    def close(self, i: int) -> float:
        """Close of session index i (raw, real where the data has it)."""
        i = max(i, self.base)
        self._extend(i)
        return self._closes[i - self.base]

    def open(self, i: int) -> float:
        """Open of session index i."""
        i = max(i, self.base)
        self._extend(i)
        return self._opens[i - self.base]

    def is_real(self, i: int) -> bool:
        """True when session i has a real bar."""
        return self.base <= i < self.base + self.n_real

    def intraday(self, i: int) -> np.ndarray:
        """Prices for every second of session i (Brownian bridge from open to close); cached (last 3 days)."""
        path = self._intraday.get(i)
        if path is None:
            n = self.sessions.closes[i] - self.sessions.opens[i]
            rng = np.random.default_rng([self.seed, self.idx, self.sessions.dates[i].toordinal(), 7])
            step = self.sigma / math.sqrt(252.0 * n)
            walk = np.concatenate(([0.0], np.cumsum(rng.standard_normal(n) * step)))
            frac = np.arange(n + 1) / n
            lo, lc = math.log(self.open(i)), math.log(self.close(i))
            path = np.exp(lo + (lc - lo) * frac + walk - frac * walk[-1])
            if len(self._intraday) >= 3:
                self._intraday.pop(next(iter(self._intraday)))
            self._intraday[i] = path
        return path

    def price_at(self, i: int, ts: int) -> float:
        """Price at epoch second ts, where i is the latest session started at or before ts."""
        if i < self.base:
            return self.real.open[0]
        if ts >= self.sessions.closes[i]:
            return self.close(i)
        return float(self.intraday(i)[ts - self.sessions.opens[i]])

    def bar(self, i: int, ts: int | None = None) -> tuple[float, float, float, float, int]:
        """(open, high, low, close, volume) of session i; partial up to ts when the session is running."""
        partial = ts is not None and ts < self.sessions.closes[i]
        if not partial and i in self._bars:
            return self._bars[i]
        if self.is_real(i) and not partial:
            r = self._rows[i - self.base]
            out = (
                self.real.open[r],
                self.real.high[r],
                self.real.low[r],
                self.real.close[r],
                self.real.volume[r],
            )
        else:
            path = self.intraday(i)
            n = len(path) - 1
            upto = n if not partial or ts is None else max(0, ts - self.sessions.opens[i])
            seg = path[: upto + 1]
            noise = unit_normal(self.seed, self.idx, self.sessions.dates[i].toordinal(), 3)
            vol_day = self.avg_volume * math.exp(0.3 * noise - 0.045)
            out = (float(seg[0]), float(seg.max()), float(seg.min()), float(seg[-1]), int(vol_day * upto / n))
        if not partial:
            self._bars[i] = out
        return out
