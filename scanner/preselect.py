"""Which contracts are worth requesting market data for, before screening (pure, no I/O).

:func:`expiries_in_window` keeps the listed expiries in the DTE window, nearest the target first;
:func:`strikes_to_check` keeps the out-of-the-money strikes whose Black-Scholes-Merton delta, at a
volatility guess, lies in the rules' delta band widened by a margin. Both only keep TWS market-data
lines low; the screen (:mod:`scanner.screen`) decides on TWS's own greeks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from scanner.screen import EPS
from shared.optionmath import bsm_call_delta, bsm_put_delta, calendar_dte, is_price
from shared.strategy import EntryRules
from shared.trade import Right

__all__ = ["STRIKE_DELTA_MARGIN", "expiries_in_window", "strikes_to_check"]

#: Default widening (absolute delta) of the [delta_min, delta_max] band in :func:`strikes_to_check`,
#: absorbing volatility skew and the error of a single IV guess.
STRIKE_DELTA_MARGIN = 0.05


def expiries_in_window(expiries: Iterable[str], today: date, rules: EntryRules) -> list[str]:
    """Expiries (``YYYYMMDD``) whose calendar DTE lies in ``[dte_min, dte_max]``, deduplicated.

    Sorted by ``|DTE − dte_target|``, the nearer (shorter) expiry first on a tie. Raises
    ``ValueError`` naming the value on a malformed expiry string.
    """
    keyed: dict[str, int] = {}
    for exp in expiries:
        text = exp.strip()
        dte = calendar_dte(text, today)
        if rules.dte_min <= dte <= rules.dte_max:
            keyed[text] = dte
    return sorted(keyed, key=lambda e: (abs(keyed[e] - rules.dte_target), keyed[e], e))


def strikes_to_check(
    strikes: Iterable[float],
    spot: float,
    iv_guess: float,
    dte: int,
    rules: EntryRules,
    limit: int = 12,
    *,
    right: Right = Right.PUT,
    min_strike: float | None = None,
    margin: float = STRIKE_DELTA_MARGIN,
    rate: float = 0.04,
) -> list[float]:
    """Strikes worth requesting market data for, at most ``limit``, nearest the target delta first.

    Keeps out-of-the-money strikes — strictly below ``spot`` for puts, strictly above it for calls —
    whose Black-Scholes-Merton delta (:func:`~shared.optionmath.bsm_put_delta` /
    :func:`~shared.optionmath.bsm_call_delta`), computed at ``iv_guess`` (annual fraction, e.g. the
    underlying's implied or realized volatility) and ``dte`` calendar days (minimum 1), has ``|Δ|`` in
    ``[delta_min − margin, delta_max + margin]``, and that are at least ``min_strike`` ($/share; a
    covered call's cost basis) when given. Ordered by ``|(|Δ|) − delta_target|``, then nearer the spot
    first; duplicates removed.
    Raises ``ValueError`` when spot or ``iv_guess`` is not a positive finite number or ``limit`` < 0.
    """
    if not is_price(spot):
        raise ValueError(f"spot must be positive, got {spot!r}")
    if not is_price(iv_guess):
        raise ValueError(f"iv_guess must be a positive fraction (0.20 = 20 %), got {iv_guess!r}")
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit!r}")
    t_years = max(int(dte), 1) / 365.0
    lo = rules.delta_min - margin
    hi = rules.delta_max + margin
    put = right is Right.PUT
    delta_of = bsm_put_delta if put else bsm_call_delta
    found: dict[float, float] = {}
    for strike in strikes:
        k = float(strike)
        if not is_price(k) or k in found or (k >= spot if put else k <= spot):
            continue
        if min_strike is not None and k < min_strike - EPS:
            continue
        d = abs(delta_of(spot, k, t_years, iv_guess, rate=rate))
        if lo - EPS <= d <= hi + EPS:
            found[k] = d
    ordered = sorted(found, key=lambda k: (abs(found[k] - rules.delta_target), abs(spot - k)))
    return ordered[:limit]
