"""Option quote construction: open interest, bid/ask width and rounding to the tick.

Open interest: the symbol's median-OI profile (from the 2026-02 snapshots, or the generic one) at
d = |k| / (ATM30 sigma sqrt T), interpolated in ln T between DTE buckets, times ``itm_oi_factor`` for ITM
contracts, x2 on round strikes, x1.5 on monthlies, and a deterministic lognormal factor per contract.

Width: rel_spread(d) (piecewise linear between bin mid-points) x time value + 0.2 % of intrinsic value,
x (1 + 0.5 exp(-profile OI / 100)) for thin strikes, at least one tick.  Bid = floor, ask = ceil of
model -+ width / 2 on the tick grid, so bid <= model <= ask always holds (hence put-call parity and
no-arbitrage of the model carry over to the quotes).  Options worth < $0.05 quote bid 0 (0.01 above one cent)
and ask 0.02-0.05.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

from simulator.paths import mix64, unit_normal


@dataclass(frozen=True)
class Profile:
    """OI and spread profiles of one symbol (see surfaces.json)."""

    bucket_lt: list[float]  # ln(T years) of the DTE buckets
    d_mid: list[float]  # bin mid-points in d
    oi: list[list[float]]  # [bucket][bin] median open interest (OTM)
    rel_spread: list[float]  # [bin] median (ask - bid) / mid
    itm_oi_factor: float

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Profile:
        """From a surfaces.json record."""
        edges = [float(e) for e in rec["d_edges"]]
        mids = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)] + [edges[-1] + 0.5]
        return cls(
            [math.log(float(b) / 365.0) for b in rec["buckets"]],
            mids,
            [[float(v) for v in row] for row in rec["oi"]],
            [float(v) for v in rec["rel_spread"]],
            float(rec["itm_oi_factor"]),
        )

    def _interp_d(self, row: list[float], d: float) -> float:
        m = self.d_mid
        if d <= m[0]:
            return row[0]
        if d >= m[-1]:
            return row[-1]
        j = bisect.bisect_right(m, d)
        w = (d - m[j - 1]) / (m[j] - m[j - 1])
        return row[j - 1] * (1 - w) + row[j] * w

    def base_oi(self, d: float, t: float) -> float:
        """Profile open interest (contracts) at distance d and expiry t (years)."""
        lt = math.log(max(t, 1e-4))
        b = self.bucket_lt
        if lt <= b[0]:
            return self._interp_d(self.oi[0], d)
        if lt >= b[-1]:
            return self._interp_d(self.oi[-1], d)
        j = bisect.bisect_right(b, lt)
        w = (lt - b[j - 1]) / (b[j] - b[j - 1])
        return self._interp_d(self.oi[j - 1], d) * (1 - w) + self._interp_d(self.oi[j], d) * w

    def rel(self, d: float) -> float:
        """Relative bid-ask spread at distance d."""
        return self._interp_d(self.rel_spread, d)


def open_interest(
    prof: Profile, con_id: int, d: float, t: float, itm: bool, round_strike: bool, monthly: bool, day: int
) -> int:
    """Deterministic open interest of one contract on one day (contracts)."""
    base = prof.base_oi(d, t) * (prof.itm_oi_factor if itm else 1.0)
    base *= (2.0 if round_strike else 1.0) * (1.5 if monthly else 1.0)
    noise = math.exp(0.6 * unit_normal(con_id, 11) - 0.18 + 0.05 * unit_normal(con_id, day))
    return int(base * noise)


def bid_ask(
    model: float, intrinsic: float, prof: Profile, d: float, t: float, con_id: int, tick: float = 0.01
) -> tuple[float, float]:
    """Bid and ask (currency per share) around the model price; bid <= model <= ask."""
    if model < 0.05:
        ask = 0.02 + 0.01 * (mix64(con_id, 5) % 4)
        ask = max(ask, math.ceil(model / tick - 1e-9) * tick)
        bid = 0.01 if model >= 0.015 else 0.0
        return bid, round(ask, 2)
    tv = max(model - intrinsic, 0.0)
    thin = 1.0 + 0.5 * math.exp(-prof.base_oi(d, t) / 100.0)
    width = max(tick, (prof.rel(d) * max(tv, 0.05) + 0.002 * intrinsic) * thin)
    bid = max(0.0, math.floor((model - width / 2) / tick + 1e-9) * tick)
    ask = math.ceil((model + width / 2) / tick - 1e-9) * tick
    return round(bid, 2), round(ask, 2)
