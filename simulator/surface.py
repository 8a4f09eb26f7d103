"""Implied-volatility surface of one underlying: a quadratic smile in x = k / sqrt(T) per DTE bucket.

sigma_i(k) = a_i + b_i x + c_i x^2 for x_lo <= x <= x_hi (the fitted range); outside it the wing leaves
with the edge slope s and saturates smoothly, sigma = v_e + s L tanh((x - x_e) / L), at twice the edge vol
(rising wing) or half of it (falling wing): C^1 and bounded, because a wing linear in sigma eventually
breaks Durrleman's no-butterfly condition (Gatheral 2006, ch. 3; Roger & Lee 2004 moment bound).
Between buckets total variance w = sigma^2 T is interpolated linearly in T at fixed k (Gatheral 2006, ch. 3);
before the first / after the last bucket the nearest bucket's smile is used in x.  k = ln(K / F),
F = S e^{(r - q) T}; T in years.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Smile:
    """One bucket: T (years), ATM iv a, skew b and curvature c in x = k / sqrt(T), and the fitted x range."""

    t: float
    a: float
    b: float
    c: float
    x_lo: float
    x_hi: float

    def vol_x(self, x: float) -> float:
        """Implied vol (fraction) at standardised log-moneyness x = k / sqrt(T)."""
        if x < self.x_lo:
            edge = self.x_lo
        elif x > self.x_hi:
            edge = self.x_hi
        else:
            return min(3.0, max(self.a + self.b * x + self.c * x * x, 0.05))
        v0 = self.a + self.b * edge + self.c * edge * edge
        slope = self.b + 2.0 * self.c * edge
        rising = (slope < 0) == (x < edge)  # moving away from the money, vol goes up
        span = v0 if rising else 0.5 * v0  # saturate at 2x (or 0.5x) the edge vol
        if abs(slope) * 1e3 < span:
            return min(3.0, max(v0 + slope * (x - edge), 0.05))
        width = span / abs(slope)
        return min(3.0, max(v0 + slope * width * math.tanh((x - edge) / width), 0.05))


class Surface:
    """Smiles by DTE bucket with total-variance interpolation in T."""

    def __init__(self, smiles: list[Smile]) -> None:
        self.smiles = sorted(smiles, key=lambda s: s.t)
        self._ts = [s.t for s in self.smiles]

    @classmethod
    def from_record(cls, rec: dict[str, Any], atm_scale: float = 1.0) -> Surface:
        """Build from a surfaces.json record (lists ``buckets`` (days), ``atm``, ``skew``, ``curv``, ``x_lo``,
        ``x_hi``); ``atm_scale`` multiplies a, b and c (a level shift of the whole surface)."""

        def col(key: str) -> list[float]:
            return [float(v) for v in rec[key]]

        smiles = [
            Smile(d / 365.0, a * atm_scale, b * atm_scale, c * atm_scale, lo, hi)
            for d, a, b, c, lo, hi in zip(
                col("buckets"), col("atm"), col("skew"), col("curv"), col("x_lo"), col("x_hi"), strict=True
            )
        ]
        return cls(smiles)

    def vol(self, k: float, t: float) -> float:
        """Implied vol (fraction) at log-moneyness k = ln(K/F) and time to expiry t (years)."""
        t = max(t, 1e-4)
        i = bisect.bisect_left(self._ts, t)
        if i == 0:
            return self.smiles[0].vol_x(k / math.sqrt(t))
        if i >= len(self.smiles):
            return self.smiles[-1].vol_x(k / math.sqrt(t))
        s0, s1 = self.smiles[i - 1], self.smiles[i]
        w0 = s0.vol_x(k / math.sqrt(s0.t)) ** 2 * s0.t
        w1 = s1.vol_x(k / math.sqrt(s1.t)) ** 2 * s1.t
        w = w0 + (w1 - w0) * (t - s0.t) / (s1.t - s0.t)
        return math.sqrt(max(w, 1e-8) / t)
