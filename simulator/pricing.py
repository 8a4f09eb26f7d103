"""Black-Scholes-Merton pricing of European options with a continuous dividend yield.

Formulas: Black & Scholes (1973) "The Pricing of Options and Corporate Liabilities", J. Political Economy 81;
Merton (1973) "Theory of Rational Option Pricing", Bell J. Econ. 4 (continuous dividend yield q);
J. Hull, "Options, Futures, and Other Derivatives", 10th ed., ch. 15, 17 and 19 (greeks).

Units everywhere: spot ``s`` and strike ``k`` in currency per share, ``t`` in years (ACT/365), ``r`` and ``q``
continuously compounded annual rates as fractions, ``vol`` annualised as a fraction (0.25 = 25 %).
Prices are per share (multiply by the contract multiplier for a contract).  Scalar ``math`` code: one full
quote (price and four greeks) costs a few microseconds, fast enough for thousands of options per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_MIN_T = 1.0 / (365.0 * 24.0 * 60.0)  # one minute, to keep d1/d2 finite at expiry


def norm_cdf(x: float) -> float:
    """Standard normal cumulative distribution function N(x)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def norm_pdf(x: float) -> float:
    """Standard normal density n(x)."""
    return math.exp(-0.5 * x * x) / _SQRT_2PI


@dataclass(frozen=True)
class Greeks:
    """Price and greeks of one option, per share.

    price: currency; delta: d price / d spot; gamma: d delta / d spot (per currency unit);
    vega: price change for +1 vol point (0.01); theta: price change over one calendar day (usually < 0).
    """

    price: float
    delta: float
    gamma: float
    vega: float
    theta: float


def _intrinsic(s: float, k: float, right: str) -> float:
    return max(s - k, 0.0) if right == "C" else max(k - s, 0.0)


def bsm_price(s: float, k: float, t: float, vol: float, r: float, q: float, right: str) -> float:
    """BSM price per share of a European call (``right="C"``) or put (``"P"``) (Merton 1973; Hull 17.4-17.5).

    C = S e^{-qT} N(d1) - K e^{-rT} N(d2),  P = K e^{-rT} N(-d2) - S e^{-qT} N(-d1),
    d1 = [ln(S/K) + (r - q + vol^2/2) T] / (vol sqrt T),  d2 = d1 - vol sqrt T.
    At or after expiry (t <= 0) or with zero vol the discounted intrinsic value of the forward is returned.
    """
    if t <= 0.0:
        return _intrinsic(s, k, right)
    dq = math.exp(-q * t)
    dr = math.exp(-r * t)
    if vol <= 0.0:
        fwd = s * dq - k * dr
        return max(fwd, 0.0) if right == "C" else max(-fwd, 0.0)
    sd = vol * math.sqrt(t)
    d1 = (math.log(s / k) + (r - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    if right == "C":
        return s * dq * norm_cdf(d1) - k * dr * norm_cdf(d2)
    return k * dr * norm_cdf(-d2) - s * dq * norm_cdf(-d1)


def bsm_greeks(s: float, k: float, t: float, vol: float, r: float, q: float, right: str) -> Greeks:
    """Price, delta, gamma, vega (per 0.01 vol) and theta (per calendar day) per share (Hull ch. 19).

    delta_C = e^{-qT} N(d1), delta_P = e^{-qT} (N(d1) - 1); gamma = e^{-qT} n(d1) / (S vol sqrt T);
    vega = S e^{-qT} n(d1) sqrt T / 100;
    theta_C = [-S n(d1) vol e^{-qT} / (2 sqrt T) - r K e^{-rT} N(d2) + q S e^{-qT} N(d1)] / 365,
    theta_P = [-S n(d1) vol e^{-qT} / (2 sqrt T) + r K e^{-rT} N(-d2) - q S e^{-qT} N(-d1)] / 365.
    Time below one minute is floored to one minute so greeks stay finite on expiry day.
    """
    t = max(t, _MIN_T)
    vol = max(vol, 1e-4)
    dq = math.exp(-q * t)
    dr = math.exp(-r * t)
    sqt = math.sqrt(t)
    sd = vol * sqt
    d1 = (math.log(s / k) + (r - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    pdf1 = norm_pdf(d1)
    gamma = dq * pdf1 / (s * sd)
    vega = s * dq * pdf1 * sqt / 100.0
    decay = -s * pdf1 * vol * dq / (2.0 * sqt)
    if right == "C":
        n1, n2 = norm_cdf(d1), norm_cdf(d2)
        price = s * dq * n1 - k * dr * n2
        delta = dq * n1
        theta = decay - r * k * dr * n2 + q * s * dq * n1
    else:
        n1, n2 = norm_cdf(-d1), norm_cdf(-d2)
        price = k * dr * n2 - s * dq * n1
        delta = -dq * n1
        theta = decay + r * k * dr * n2 - q * s * dq * n1
    return Greeks(price=max(price, 0.0), delta=delta, gamma=gamma, vega=vega, theta=theta / 365.0)


def implied_vol(
    price: float,
    s: float,
    k: float,
    t: float,
    r: float,
    q: float,
    right: str,
    *,
    lo: float = 1e-4,
    hi: float = 5.0,
    tol: float = 1e-7,
    max_iter: int = 100,
) -> float | None:
    """Implied volatility (fraction) that reproduces ``price`` per share, by Brent's method on [lo, hi].

    Brent (1973) "Algorithms for Minimization without Derivatives", ch. 4: bracketing, so it always converges
    when a root exists.  Returns None when the price is outside the no-arbitrage bounds
    (below the discounted intrinsic value or above the upper bound) or t <= 0.
    """
    if t <= 0.0 or price <= 0.0:
        return None

    def f(v: float) -> float:
        return bsm_price(s, k, t, v, r, q, right) - price

    a, b = lo, hi
    fa, fb = f(a), f(b)
    if fa > 0.0 or fb < 0.0:
        return None
    if fa == 0.0:
        return a
    c, fc = a, fa
    d = e = b - a
    for _ in range(max_iter):
        if (fb > 0) == (fc > 0):
            c, fc = a, fa
            d = e = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol1 = 2.0 * 1e-15 * abs(b) + 0.5 * tol
        xm = 0.5 * (c - b)
        if abs(xm) <= tol1 or fb == 0.0:
            return b
        if abs(e) >= tol1 and abs(fa) > abs(fb):
            s_ = fb / fa
            if a == c:
                p = 2.0 * xm * s_
                qq = 1.0 - s_
            else:
                qq = fa / fc
                rr = fb / fc
                p = s_ * (2.0 * xm * qq * (qq - rr) - (b - a) * (rr - 1.0))
                qq = (qq - 1.0) * (rr - 1.0) * (s_ - 1.0)
            if p > 0:
                qq = -qq
            p = abs(p)
            if 2.0 * p < min(3.0 * xm * qq - abs(tol1 * qq), abs(e * qq)):
                e, d = d, p / qq
            else:
                d = e = xm
        else:
            d = e = xm
        a, fa = b, fb
        b += d if abs(d) > tol1 else math.copysign(tol1, xm)
        fb = f(b)
    return b
