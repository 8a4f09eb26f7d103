"""Option quote construction: open interest, bid/ask width and rounding to the tick.

Open interest: the symbol's median-OI profile (from the 2026-02 snapshots, or the generic one) at
d = |k| / (ATM30 sigma sqrt T), interpolated in ln T between DTE buckets, times ``itm_oi_factor`` for ITM
contracts, times a deterministic lognormal factor per contract whose centre and spread are fitted per
(monthly/weekly, DTE class, d bin) on the real chains (``calibration.json``, :mod:`simulator.calibrate`):
weeklies and far wings get the real share of strikes with OI < 100.

Width: rel_spread(d) (piecewise linear between bin mid-points) x time value + 0.2 % of intrinsic value, times
a fitted lognormal factor per (DTE class, d bin, ITM flag) (ITM and far-wing quotes are much wider than the
OTM median), at least one tick.  Bid = floor, ask = ceil of model -+ width / 2 on the tick grid, bid >= 0 and
ask >= intrinsic value, so 0 <= bid <= model <= ask always holds (hence put-call parity and no-arbitrage of
the model carry over to the quotes).  Options worth < $0.05 quote bid 0 (0.01 above one cent) and ask
0.02-0.05.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.paths import mix64, unit_normal

CALIBRATION = Path(__file__).resolve().parent / "data" / "calibration.json"


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


@dataclass(frozen=True)
class Liquidity:
    """Fitted residuals of open interest and spreads against the profiles (``liquidity`` of calibration.json).

    ``oi[key] = (mu, s)`` of ln(OI + 1) - ln(profile OI), key = M|W (monthly/weekly) + DTE class + d bin;
    ``spread[key] = (mu, s)`` of ln(width / profile width), key = DTE class + d bin + ITM flag.
    """

    dte_edges: list[float]
    d_edges: list[float]
    oi: dict[str, tuple[float, float]]
    spread: dict[str, tuple[float, float]]
    zero_bid_ask: float

    @classmethod
    def load(cls, path: Path | None = None) -> Liquidity:
        """From calibration.json (the shipped one by default); neutral residuals when the file is missing."""
        path = path or CALIBRATION
        if not path.exists():
            return cls([0, 10, 21, 35], [0.0, 0.5, 1.0, 2.0], {}, {}, 0.01)
        rec = json.loads(path.read_text())["liquidity"]
        return cls(
            [float(x) for x in rec["dte_edges"]],
            [float(x) for x in rec["d_edges"]],
            {k: (float(v[0]), float(v[1])) for k, v in rec["oi"].items()},
            {k: (float(v[0]), float(v[1])) for k, v in rec["spread"].items()},
            float(rec["zero_bid_ask"]),
        )

    def _classes(self, d: float, t: float) -> str:
        dte = t * 365.0
        c = max(i for i, e in enumerate(self.dte_edges) if dte > e or i == 0)
        b = max(i for i, e in enumerate(self.d_edges) if d > e or i == 0)
        return f"{c}{b}"

    def oi_residual(self, d: float, t: float, monthly: bool) -> tuple[float, float]:
        """(mu, s) of the log open interest around the profile."""
        return self.oi.get(("M" if monthly else "W") + self._classes(d, t), (-0.18, 0.6))

    def spread_residual(self, d: float, t: float, itm: bool) -> tuple[float, float]:
        """(mu, s) of the log width around the profile width."""
        return self.spread.get(self._classes(d, t) + ("1" if itm else "0"), (0.0, 0.0))


@functools.cache
def liquidity() -> Liquidity:
    """The shipped calibration (cached)."""
    return Liquidity.load()


def _z(con_id: int, salt: int) -> float:
    return max(-2.5, min(2.5, unit_normal(con_id, salt)))


def open_interest(
    prof: Profile, con_id: int, d: float, t: float, itm: bool, round_strike: bool, monthly: bool, day: int
) -> int:
    """Deterministic open interest of one contract on one day (contracts): the profile median times the
    fitted lognormal residual of its (monthly/weekly, DTE, d) group, so the share of strikes with OI < 100
    (new weeklies, far wings) matches the real chains; ``round_strike`` is part of the profile already."""
    base = prof.base_oi(d, t) * (prof.itm_oi_factor if itm else 1.0)
    mu, s = liquidity().oi_residual(d, t, monthly)
    noise = math.exp(mu + s * _z(con_id, 11) + 0.05 * unit_normal(con_id, day))
    return max(0, int(base * noise - 1.0))


def bid_ask(
    model: float, intrinsic: float, prof: Profile, d: float, t: float, con_id: int, tick: float = 0.01
) -> tuple[float, float]:
    """Bid and ask (currency per share) around the model price: 0 <= bid <= model <= ask, ask >= intrinsic."""
    floor_ask = math.ceil(intrinsic / tick - 1e-9) * tick
    if model < 0.05:
        ask = 0.02 + 0.01 * (mix64(con_id, 5) % 4)
        ask = max(ask, math.ceil(model / tick - 1e-9) * tick, floor_ask)
        bid = 0.01 if model >= liquidity().zero_bid_ask else 0.0
        return bid, round(ask, 2)
    tv = max(model - intrinsic, 0.0)
    # ITM quotes are wider than OTM ones (fitted per flag); blend the two by how much of the price is
    # intrinsic, so the width does not jump when the underlying crosses the strike
    w = min(1.0, intrinsic / max(tv, tick)) if intrinsic > 0 else 0.0
    mu_otm, s_otm = liquidity().spread_residual(d, t, False)
    mu_itm, s_itm = liquidity().spread_residual(d, t, True)
    mu, s = mu_otm + w * (mu_itm - mu_otm), s_otm + w * (s_itm - s_otm)
    width = max(tick, (prof.rel(d) * max(tv, 0.05) + 0.002 * intrinsic) * math.exp(mu + s * _z(con_id, 12)))
    bid = max(0.0, math.floor((model - width / 2) / tick + 1e-9) * tick)
    ask = max(math.ceil((model + width / 2) / tick - 1e-9) * tick, floor_ask)
    return round(bid, 2), round(ask, 2)
