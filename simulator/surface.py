"""Implied-volatility surface of one underlying: a quadratic smile in x = k / sqrt(T) per DTE bucket.

sigma_i(k) = a_i + b_i x + c_i x^2 for x_lo <= x <= x_hi (the fitted range); outside it power-law wings
(see :class:`Smile`), because a wing linear in sigma eventually breaks Durrleman's no-butterfly condition
(Gatheral 2006, ch. 3; R. Lee 2004, "The moment formula for implied volatility at extreme strikes").
Between buckets total variance w = sigma^2 T is interpolated linearly in T at fixed k (Gatheral 2006, ch. 3);
before the first / after the last bucket the nearest bucket's smile is used in x.  k = ln(K / F),
F = S e^{(r - q) T}; T in years.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

P_MAX = 0.6  # largest wing elasticity x sigma_x / sigma allowed (keeps Durrleman's g > 0, Lee's bound holds)


class Smile:
    """One bucket: T (years), ATM iv a, skew b and curvature c in x = k / sqrt(T), and the fitted x range.

    Inside [x_lo, x_hi] sigma = a + b x + c x^2.  Each wing continues C^1 as a power law
    sigma = v_e (x / x_e)^p from the edge x_e, where p = x_e sigma'(x_e) / sigma(x_e) is the smile's
    elasticity there; if it exceeds P_MAX the edge moves inwards to where it equals P_MAX.
    With p <= P_MAX < 1, Durrleman's condition g = (1 - x s'/s)^2 + s s'' - s^2 s'^2 T / 4 >= 0 (in x units)
    holds in the wings: (1 - p)^2 + p (p - 1) s^2 / x^2 > 0 for the small s / x of the wings.
    """

    __slots__ = ("t", "a", "b", "c", "x_lo", "x_hi", "_lo", "_hi")

    def __init__(self, t: float, a: float, b: float, c: float, x_lo: float, x_hi: float) -> None:
        self.t, self.a, self.b, self.c = t, a, b, c
        self.x_lo, self.x_hi = min(x_lo, -1e-3), max(x_hi, 1e-3)
        self._lo = self._edge(self.x_lo)
        self._hi = self._edge(self.x_hi)

    def _quad(self, x: float) -> float:
        return self.a + self.b * x + self.c * x * x

    def _elasticity(self, x: float) -> float:
        return x * (self.b + 2.0 * self.c * x) / max(self._quad(x), 1e-6)

    def _edge(self, x_edge: float) -> tuple[float, float, float]:
        """(x_e, sigma(x_e), p) of one wing."""
        if self._elasticity(x_edge) > P_MAX:
            lo, hi = 0.0, x_edge  # elasticity is 0 at the money and > P_MAX at the fitted edge
            for _ in range(50):
                mid = 0.5 * (lo + hi)
                if self._elasticity(mid) > P_MAX:
                    hi = mid
                else:
                    lo = mid
            x_edge = lo
        return x_edge, max(self._quad(x_edge), 0.05), min(self._elasticity(x_edge), P_MAX)

    def vol_x(self, x: float) -> float:
        """Implied vol (fraction) at standardised log-moneyness x = k / sqrt(T)."""
        xe, ve, p = self._lo if x < 0 else self._hi
        if (x < 0 and x < xe) or (x > 0 and x > xe):
            # a falling wing stops at half the edge vol (a convex kink: no arbitrage)
            return max(ve * (x / xe) ** p, 0.5 * ve, 0.05)  # power-law growth: no cap needed
        return max(self._quad(x), 0.05)


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


# ---- the moving level and the earnings bump (issue 10) -----------------------------------------------------
LEVEL_RV_DAYS = 20  # realized-vol window of the level driver (sessions)
LEVEL_CLIP = (0.6, 2.2)  # bounds of the level relative to the fitted surface
EARNINGS_MOVE_DAYS = (
    3.0  # stdev of an earnings-day move, in the stock's normal daily vols (ATM IV / sqrt 252)
)
FIT_DATE = "2026-02-12"  # the chain snapshots the fitted surfaces come from (simulator/data/README.md)


def level_driver(closes: list[float], long_run: float) -> float:
    """m = 1/2 long-run vol + 1/2 realized vol of ``closes`` (annualized stdev of log returns x sqrt 252).

    The surface's ATM level on a day is ATM_fit x m(day) / m(fit day): implied vol follows realized vol,
    pulled towards its long-run level (implied vol mean-reverts; Carr & Wu 2009 for the premium kept in
    ATM_fit).  ``closes`` are the completed sessions before the day (no look-ahead)."""
    rets = [math.log(b / a) for a, b in zip(closes, closes[1:], strict=False) if a > 0 and b > 0]
    if len(rets) < 2:
        return long_run
    mean = sum(rets) / len(rets)
    rv = math.sqrt(sum((x - mean) ** 2 for x in rets) / (len(rets) - 1) * 252.0)
    return 0.5 * long_run + 0.5 * rv


def earnings_variance(atm: float) -> float:
    """Extra total variance (years x vol^2) of one earnings event for an underlying at ATM vol ``atm``:
    (EARNINGS_MOVE_DAYS x atm / sqrt 252)^2; an expiry after n events has sigma^2 T + n x this
    (the event-variance term structure, Dubinsky & Johannes 2006)."""
    return (EARNINGS_MOVE_DAYS * atm) ** 2 / 252.0
