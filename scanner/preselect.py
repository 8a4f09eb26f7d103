"""Which contracts are worth requesting market data for, before screening (pure, no I/O).

:func:`expiries_in_window` keeps the listed expiries in the DTE window, nearest the target first;
:func:`strikes_to_check` keeps the out-of-the-money strikes whose Black-Scholes-Merton delta, at a
volatility guess, lies in the rules' delta band widened by a margin. Both only keep TWS market-data
lines low; the screen (:mod:`scanner.screen`) decides on TWS's own greeks.

Full coverage of the band (:func:`band_strikes`, :func:`widen_strikes`): per expiry, the listed strikes
whose Black-Scholes-Merton delta at the underlying's implied vol (with a put skew) falls in the band, plus
``beyond`` listed strikes past each edge; then, from the model greeks TWS streamed for them, the next
listed strikes outwards until at least ``max(beyond, 1)`` strikes past each edge of the band were seen
(or the chain ends, or the per-expiry limit is reached).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from scanner.screen import EPS
from shared.optionmath import bsm_call_delta, bsm_put_delta, calendar_dte, is_price
from shared.strategy import EntryRules
from shared.trade import Right

__all__ = [
    "DEFAULT_SKEW",
    "STRIKE_DELTA_MARGIN",
    "Seen",
    "band_strikes",
    "expiries_in_window",
    "strikes_to_check",
    "widen_strikes",
]

#: Default widening (absolute delta) of the [delta_min, delta_max] band in :func:`strikes_to_check`,
#: absorbing volatility skew and the error of a single IV guess.
STRIKE_DELTA_MARGIN = 0.05


#: Default volatility skew of the first estimate: σ(K) = σ_atm × (1 + skew × ln(spot / K)), floored at
#: half σ_atm — higher implied vol below the money, as equity chains quote it. Only the first estimate
#: uses it; the widening uses the implied vols TWS streamed.
DEFAULT_SKEW = 0.8


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


@dataclass(frozen=True)
class Seen:
    """What TWS streamed for one requested strike: ``abs_delta`` (|Δ| of its model greeks) and ``iv``
    (its model implied vol, fraction); ``None`` when they did not arrive."""

    abs_delta: float | None
    iv: float | None


def _abs_delta(right: Right, spot: float, strike: float, t_years: float, iv: float, rate: float) -> float:
    delta_of = bsm_put_delta if right is Right.PUT else bsm_call_delta
    return abs(delta_of(spot, strike, t_years, iv, rate=rate))


def _by_delta(strikes: Iterable[float], right: Right, min_strike: float | None) -> list[float]:
    """The listed strikes (positive, deduplicated, at or above ``min_strike``) ordered so that |Δ| rises
    along the list: ascending for puts, descending for calls."""
    ks = {float(k) for k in strikes if is_price(float(k))}
    if min_strike is not None:
        ks = {k for k in ks if k >= min_strike - EPS}
    return sorted(ks, reverse=right is Right.CALL)


def band_strikes(
    strikes: Iterable[float],
    spot: float,
    iv: float,
    dte: int,
    rules: EntryRules,
    *,
    right: Right = Right.PUT,
    beyond: int = 1,
    limit: int = 40,
    min_strike: float | None = None,
    skew: float = DEFAULT_SKEW,
    rate: float = 0.04,
) -> list[float]:
    """The first strikes to request for one expiry: the listed ``strikes`` whose estimated |Δ| lies in
    ``[delta_min, delta_max]``, plus ``beyond`` listed strikes past each edge (at least one past an edge
    that falls between two listed strikes, so the band is bracketed), at most ``limit`` (those nearest
    the target delta kept), sorted by strike.

    |Δ| is Black-Scholes-Merton's at ``spot`` ($/share), ``dte`` calendar days (minimum 1), and the
    implied vol ``iv`` (annual fraction, the at-the-money option's) bent by ``skew``:
    σ(K) = iv × max(0.5, 1 + skew × ln(spot / K)). Calls keep strikes at or above ``min_strike``.
    Raises ``ValueError`` when spot or iv is not a positive finite number.
    """
    if not is_price(spot):
        raise ValueError(f"spot must be positive, got {spot!r}")
    if not is_price(iv):
        raise ValueError(f"iv must be a positive fraction (0.20 = 20 %), got {iv!r}")
    ordered = _by_delta(strikes, right, min_strike)
    if not ordered or limit <= 0:
        return []
    t_years = max(int(dte), 1) / 365.0
    est = [
        _abs_delta(right, spot, k, t_years, iv * max(0.5, 1.0 + skew * math.log(spot / k)), rate)
        for k in ordered
    ]
    first = next((i for i, d in enumerate(est) if d >= rules.delta_min - EPS), len(ordered))
    last = max((i for i, d in enumerate(est) if d <= rules.delta_max + EPS), default=-1)
    pad = max(beyond, 1) if first > last else max(beyond, 0)  # no listed strike inside: bracket the gap
    lo = min(max(first - pad, 0), len(ordered) - 1)
    hi = max(min(last + pad, len(ordered) - 1), lo)
    picked = list(range(lo, hi + 1))
    if len(picked) > limit:
        picked = sorted(picked, key=lambda i: abs(est[i] - rules.delta_target))[:limit]
    return sorted(ordered[i] for i in picked)


def widen_strikes(
    strikes: Iterable[float],
    seen: Mapping[float, Seen],
    spot: float,
    dte: int,
    rules: EntryRules,
    *,
    right: Right = Right.PUT,
    beyond: int = 1,
    limit: int = 40,
    min_strike: float | None = None,
    rate: float = 0.04,
) -> list[float]:
    """The next listed strikes to request for one expiry, given what TWS streamed for those requested so
    far (``seen``, by strike): on each side of the band where fewer than ``max(beyond, 1)`` requested
    strikes showed a |Δ| past the edge (below ``delta_min`` on the far side, above ``delta_max`` on the
    near side), the next listed strikes outwards — as many as the outermost streamed implied vol says
    reach past the edge, at least one — without going past ``limit`` strikes in all. Empty when both
    edges are crossed, the chain ends or the limit is reached. Sorted by strike.
    """
    ordered = _by_delta(strikes, right, min_strike)
    index = {k: i for i, k in enumerate(ordered)}
    asked = sorted(index[float(k)] for k in seen if float(k) in index)
    if not asked or not is_price(spot):
        return []
    need = max(beyond, 1)
    room = limit - len(seen)
    t_years = max(int(dte), 1) / 365.0
    out: list[int] = []

    def extend(side: int) -> None:
        nonlocal room

        # side −1: the far side (|Δ| falls along it), past delta_min; side +1: the near side, past delta_max
        def past(d: float | None) -> bool:
            if d is None:
                return False
            return d < rules.delta_min - EPS if side < 0 else d > rules.delta_max + EPS

        crossed = sum(1 for i in asked if past(seen[ordered[i]].abs_delta))
        if crossed >= need or room <= 0:
            return
        edge = asked[0] if side < 0 else asked[-1]
        # the implied vol streamed for the outermost strike on this side that has one
        known = [i for i in (asked if side > 0 else reversed(asked)) if seen[ordered[i]].iv is not None]
        iv = seen[ordered[known[-1]]].iv if known else None
        wanted = need - crossed
        i = edge + side
        added = 0
        while 0 <= i < len(ordered) and room > 0 and wanted > 0:
            out.append(i)
            room -= 1
            added += 1
            if iv is None or past(_abs_delta(right, spot, ordered[i], t_years, iv, rate)):
                wanted -= 1
            i += side

    extend(-1)
    extend(+1)
    return sorted(ordered[i] for i in out)
