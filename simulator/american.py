"""American options with discrete cash dividends: Bjerksund-Stensland (1993) on an escrowed-dividend spot.

Model (Hull, "Options, Futures, and Other Derivatives", 10th ed., 17.3 and 21.3):

* escrowed dividends: the stock is S* = S - PV(dividends going ex before expiry), which follows a geometric
  Brownian motion with volatility ``vol``; with a dividend schedule the continuous yield is zero (b = r);
* early exercise by the flat-boundary approximation of P. Bjerksund & G. Stensland (1993), "Closed-form
  approximation of American options", Scandinavian J. of Management 9, S87-S99 (call with cost of carry b;
  the put through their put-call transformation P(S, K, T, r, b) = C(K, S, T, r - b, -b));
* calls on a dividend payer: Black's (1975) pseudo-American value, the larger of the value to expiry and the
  European values of exercising just before each ex-dividend date t_i (spot less the PV of the dividends
  before t_i, maturity t_i);
* floors: never below the European value nor the intrinsic value max(S - K, 0) / max(K - S, 0) at the
  real spot - no model quote is below intrinsic.

Greeks are finite differences of the same model (central in spot and vol, one calendar day forward for theta).
Units as in :mod:`simulator.pricing` (per share, years, fractions).  Cost: a put or a dividend call is about
six Bjerksund-Stensland evaluations (~40-60 us in CPython); a call with no dividend before expiry and a
continuous yield q = 0 is exactly European and costs one BSM evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from simulator.pricing import Greeks, bsm_greeks, bsm_price, norm_cdf

Dividends = Sequence[tuple[float, float]]  # (years to ex-date, cash amount per share), ex-date in (0, T]


def _phi(s: float, t: float, gamma: float, h: float, i: float, r: float, b: float, v2: float) -> float:
    """Bjerksund-Stensland (1993) phi(S, T, gamma, H, I)."""
    sd = math.sqrt(v2 * t)
    lam = (-r + gamma * b + 0.5 * gamma * (gamma - 1.0) * v2) * t
    d = -(math.log(s / h) + (b + (gamma - 0.5) * v2) * t) / sd
    kappa = 2.0 * b / v2 + (2.0 * gamma - 1.0)
    return (
        math.exp(lam) * s**gamma * (norm_cdf(d) - (i / s) ** kappa * norm_cdf(d - 2.0 * math.log(i / s) / sd))
    )


def bs93_call(s: float, k: float, t: float, r: float, b: float, vol: float) -> float:
    """Bjerksund-Stensland (1993) American call, cost of carry b (= r - q); European when b >= r."""
    q = r - b
    if b >= r or t <= 0.0:
        return bsm_price(s, k, t, vol, r, q, "C")
    v2 = vol * vol
    beta = (0.5 - b / v2) + math.sqrt((b / v2 - 0.5) ** 2 + 2.0 * r / v2)
    b_inf = beta / (beta - 1.0) * k
    b0 = max(k, r / (r - b) * k)
    ht = -(b * t + 2.0 * vol * math.sqrt(t)) * b0 / (b_inf - b0)
    i = b0 + (b_inf - b0) * (1.0 - math.exp(ht))
    if s >= i:
        return s - k
    alpha = (i - k) * i ** (-beta)
    return (
        alpha * s**beta
        - alpha * _phi(s, t, beta, i, i, r, b, v2)
        + _phi(s, t, 1.0, i, i, r, b, v2)
        - _phi(s, t, 1.0, k, i, r, b, v2)
        - k * _phi(s, t, 0.0, i, i, r, b, v2)
        + k * _phi(s, t, 0.0, k, i, r, b, v2)
    )


def american_price(
    s: float, k: float, t: float, vol: float, r: float, q: float, right: str, divs: Dividends = ()
) -> float:
    """American price per share; ``divs`` = discrete dividends (years to ex-date, cash) before expiry, used
    escrowed (then ``q`` should be 0); ``q`` a continuous yield for underlyings without a schedule."""
    intrinsic = max(s - k, 0.0) if right == "C" else max(k - s, 0.0)
    if t <= 0.0:
        return intrinsic
    vol = max(vol, 1e-4)
    pv = sum(d * math.exp(-r * ti) for ti, d in divs if 0.0 < ti <= t)
    se = max(s - pv, 1e-9)
    b = r - q
    if right == "C":
        euro = bsm_price(se, k, t, vol, r, q, "C")
        value = bs93_call(se, k, t, r, b, vol) if q > 0.0 else euro
        acc = 0.0
        for ti, d in sorted(divs):
            if not 0.0 < ti <= t:
                continue
            # exercise just before this ex-date: the dividends before it are still escrowed
            value = max(value, bsm_price(max(s - acc, 1e-9), k, ti, vol, r, q, "C"))
            acc += d * math.exp(-r * ti)
    else:
        euro = bsm_price(se, k, t, vol, r, q, "P")
        # real spot, dividends as an equivalent yield (same forward): exercise pays K - S, not K - S*
        qe = q + math.log(s / se) / t
        value = bs93_call(k, s, t, qe, qe - r, vol)  # put-call transformation P(S,K,T,r,b) = C(K,S,T,r-b,-b)
    return max(value, euro, intrinsic)


def american_greeks(
    s: float, k: float, t: float, vol: float, r: float, q: float, right: str, divs: Dividends = ()
) -> Greeks:
    """Price and greeks (same units as :func:`simulator.pricing.bsm_greeks`) of the American option.

    Exact BSM for a call without dividends before expiry and q = 0 (no early exercise); otherwise central
    differences: delta and gamma with a 0.5 % spot bump, vega with +-0.5 vol points, theta over one calendar
    day (expiry inside a day: the intrinsic value at expiry).  Dividend times are shifted with the clock.
    """
    live = [(ti, d) for ti, d in divs if 0.0 < ti <= t]
    if right == "C" and not live and q <= 0.0:
        return bsm_greeks(s, k, t, vol, r, q, right)
    vol = max(vol, 1e-4)
    t_eff = max(t, 1.0 / (365.0 * 24.0 * 60.0))
    pv = sum(d * math.exp(-r * ti) for ti, d in live)
    se = max(s - pv, 1e-9)
    euro = bsm_greeks(se, k, t_eff, vol, r, q, right)
    p_am = american_price(s, k, t_eff, vol, r, q, right, live)
    if p_am - euro.price < 5e-4:  # no early-exercise value worth a twentieth of a cent: the European greeks
        return Greeks(price=p_am, delta=euro.delta, gamma=euro.gamma, vega=euro.vega, theta=euro.theta)

    def f(ss: float, tt: float = t_eff, vv: float = vol, shift: float = 0.0) -> float:
        return american_price(ss, k, tt, vv, r, q, right, [(ti - shift, d) for ti, d in live])

    p0 = p_am
    h = 0.005 * s
    up, dn = f(s + h), f(s - h)
    delta = (up - dn) / (2.0 * h)
    gamma = max((up - 2.0 * p0 + dn) / (h * h), 0.0)
    dv = 0.005
    vega = (f(s, vv=vol + dv) - f(s, vv=max(vol - dv, 1e-4))) / (vol + dv - max(vol - dv, 1e-4)) / 100.0
    day = 1.0 / 365.0
    later = (
        f(s, tt=t_eff - day, shift=day)
        if t_eff > day
        else (max(s - k, 0.0) if right == "C" else max(k - s, 0.0))
    )
    delta = min(max(delta, 0.0), 1.0) if right == "C" else min(max(delta, -1.0), 0.0)
    return Greeks(price=p0, delta=delta, gamma=gamma, vega=max(vega, 0.0), theta=later - p0)
