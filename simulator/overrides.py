"""Price overrides: move an underlying on purpose (``POST /market/{symbol}`` of :mod:`simulator.control`).

An override never touches the data-driven path (:class:`~simulator.paths.PricePath`); it multiplies it.
Each symbol has a :class:`Track` of segments, each starting at a simulated instant (epoch seconds) with a
log offset and an optional annualized drift mu (fraction per year of 365 days, continuously compounded)::

    price(t) = model(t) * exp(offset_k + mu_k * (t - start_k) / year)     for start_k <= t < start_{k+1}

Setting a price X at instant T gives offset = ln(X / model(T)), so the quote at T is X and everything after
(the intraday noise, the session's close, later sessions, bars, option prices and greeks, the closes that
settle expiries) continues from that level. Setting only a drift keeps the current level; setting only a
price keeps the drift. A reset ends the override from T on (offset 0, no drift): the price returns to the
model path. Segments are kept, so closes before a change keep the prices they had; the clock never runs
backwards, so a change at T replaces the segments starting at or after T.

Outside regular hours quotes stay at the session's close (:meth:`simulator.market.Market.step`); a change
made then is an after-hours move: quotes show it at once, the official close (and the expiries it settled)
stays, and the next session opens from it. Same (seed, clock, segments) -> same prices in any process.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from simulator.paths import PricePath

YEAR_S = 365.0 * 86400.0
#: the accumulated log shift is clamped to +-LOG_LIMIT so a long jump under a big drift stays finite and > 0
LOG_LIMIT = 25.0
MIN_PRICE, MAX_PRICE = 0.01, 1_000_000.0  # USD per share accepted by :meth:`Track.change`


@dataclass(frozen=True)
class Move:
    """One requested change. ``price`` USD per share (None: keep the level); ``drift`` fraction per year,
    applied only when ``set_drift`` (None: no drift); ``reset``: back to the data-driven model."""

    price: float | None = None
    drift: float | None = None
    set_drift: bool = False
    reset: bool = False


@dataclass(frozen=True)
class Segment:
    """From ``start`` (epoch seconds) on: log shift ``offset`` plus ``drift`` (per year) × elapsed years."""

    start: int
    offset: float
    drift: float | None

    def shift(self, ts: float) -> float:
        """Log shift at ``ts`` (epoch seconds, >= start), clamped to +-LOG_LIMIT."""
        x = self.offset + (self.drift or 0.0) * (ts - self.start) / YEAR_S
        return min(max(x, -LOG_LIMIT), LOG_LIMIT)


class Track:
    """The override segments of one symbol, in start order."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []

    def at(self, ts: float) -> Segment | None:
        """The segment in force at ``ts`` (epoch seconds), None before the first."""
        k = bisect.bisect_right(self.segments, ts, key=lambda s: s.start) - 1
        return self.segments[k] if k >= 0 else None

    def log_shift(self, ts: float) -> float:
        """ln(price / model price) at ``ts`` (epoch seconds); 0 before the first segment."""
        seg = self.at(ts)
        return seg.shift(ts) if seg is not None else 0.0

    def factor(self, ts: float) -> float:
        """price / model price at ``ts``."""
        return math.exp(self.log_shift(ts)) if self.segments else 1.0

    def factors(self, t0: int, t1: int) -> np.ndarray:
        """price / model price for every second from ``t0`` to ``t1`` inclusive."""
        ts = np.arange(t0, t1 + 1, dtype=float)
        if not self.segments:
            return np.ones_like(ts)
        start, offset, drift = (
            np.array(col, dtype=float)
            for col in zip(*((s.start, s.offset, s.drift or 0.0) for s in self.segments), strict=True)
        )
        k = np.searchsorted(start, ts, side="right") - 1
        x = np.where(k >= 0, offset[k] + drift[k] * (ts - start[k]) / YEAR_S, 0.0)
        return np.exp(np.clip(x, -LOG_LIMIT, LOG_LIMIT))

    def constant(self, t0: int, t1: int) -> float | None:
        """The factor when it is the same over [t0, t1] (no change inside, no drift), else None."""
        seg = self.at(t0)
        if any(t0 < s.start <= t1 for s in self.segments) or (seg is not None and seg.drift):
            return None
        return math.exp(seg.shift(t0)) if seg is not None else 1.0

    def active(self) -> bool:
        """True while the latest segment moves the price (a level or a drift)."""
        last = self.segments[-1] if self.segments else None
        return last is not None and (last.offset != 0.0 or bool(last.drift))

    def drift(self) -> float | None:
        """Drift (fraction per year) of the latest segment."""
        return self.segments[-1].drift if self.segments else None

    def describe(self, price: float, model: float) -> dict[str, Any]:
        """What ``GET /state`` shows under ``markets``: price and model price now (USD), drift (per year),
        whether the price is still moved, and since when (ISO time of the latest change)."""
        since = datetime.fromtimestamp(self.segments[-1].start, UTC).isoformat() if self.segments else None
        return {
            "price": round(price, 2),
            "model_price": round(model, 2),
            "drift": self.drift(),
            "overridden": self.active(),
            "since": since,
        }

    def change(self, ts: int, model: float, move: Move) -> None:
        """Apply ``move`` at simulated instant ``ts`` (epoch seconds) where the unshifted model price is
        ``model`` USD; ValueError for a price outside MIN_PRICE..MAX_PRICE."""
        if move.reset:
            seg = Segment(ts, 0.0, None)
        else:
            if move.price is not None and not MIN_PRICE <= move.price <= MAX_PRICE:
                raise ValueError(f"price must be within {MIN_PRICE}..{MAX_PRICE:.0f}")
            offset = math.log(move.price / model) if move.price is not None else self.log_shift(ts)
            current = self.at(ts)
            drift = move.drift if move.set_drift else (current.drift if current else None)
            seg = Segment(ts, offset, drift)
        self.segments = [s for s in self.segments if s.start < ts] + [seg]


class PriceOverrides:
    """Every symbol's :class:`Track`; JSON form ``{"KO": [[start, offset, drift], ...]}``."""

    def __init__(self) -> None:
        self.tracks: dict[str, Track] = {}

    def track(self, symbol: str) -> Track:
        """The symbol's track (created empty)."""
        return self.tracks.setdefault(symbol, Track())

    def to_json(self) -> dict[str, list[list[Any]]]:
        """The segments of every symbol that has any."""
        return {
            sym: [[s.start, s.offset, s.drift] for s in t.segments]
            for sym, t in sorted(self.tracks.items())
            if t.segments
        }

    def load(self, data: dict[str, list[list[Any]]]) -> None:
        """Replace every track's segments by ``data`` (the :meth:`to_json` form); tracks stay the same
        objects, so paths already built see the change."""
        for track in self.tracks.values():
            track.segments = []
        for sym, segs in data.items():
            self.track(sym).segments = [
                Segment(int(a), float(b), None if c is None else float(c)) for a, b, c in segs
            ]


class ShiftedPath:
    """A :class:`PricePath` seen through a :class:`Track`: same interface as far as the market uses it."""

    def __init__(self, raw: PricePath, track: Track) -> None:
        self.raw, self.track = raw, track
        self.base = raw.base
        self.sessions = raw.sessions

    def _close_ts(self, i: int) -> int:
        return self.sessions.closes[max(i, self.base)]

    def close(self, i: int) -> float:
        """Close (USD) of session index i."""
        return self.raw.close(i) * self.track.factor(self._close_ts(i))

    def price_at(self, i: int, ts: int) -> float:
        """Price (USD) at epoch second ts, where i is the latest session started at or before ts.

        After the close the price stays the close, moved only by changes made since (after hours): a drift
        accrues from the next open on (its first print gaps by the drift over the night)."""
        at = ts
        if i >= 0 and ts >= self.sessions.closes[i]:
            seg = self.track.at(ts)
            at = max(self.sessions.closes[i], seg.start if seg is not None else 0)
        return self.raw.price_at(i, ts) * self.track.factor(at)

    def bar(self, i: int, ts: int | None = None) -> tuple[float, float, float, float, int]:
        """(open, high, low, close USD, volume shares) of session i; partial up to ts while it runs."""
        o, h, lo, c, v = self.raw.bar(i, ts)
        if not self.track.segments:
            return o, h, lo, c, v
        t0, t1 = self.sessions.opens[i], self.sessions.closes[i]
        end = t1 if ts is None or ts >= t1 else max(ts, t0)
        k = self.track.constant(t0, end)
        if k is not None:
            return o * k, h * k, lo * k, c * k, v
        seg = self.raw.intraday(i)[: end - t0 + 1] * self.track.factors(t0, end)
        return float(seg[0]), float(seg.max()), float(seg.min()), float(seg[-1]), v
