"""Pure cash-secured-put (CSP) screening and ranking. No I/O, no TWS.

The scanner process reads option chains from TWS, builds one :class:`PutQuote` per put and calls
:func:`screen_put` on each, then :func:`rank_puts` on the results. :func:`expiries_in_window` and
:func:`strikes_to_check` decide beforehand which contracts are worth requesting market data for.

Rules (``PutRules``, defaults and sources in ``docs/wheel-rules.md``), all bounds inclusive, compared
with a tolerance of 1e-9 so float noise never flips a boundary value:

- ``delta_min ≤ |Δ| ≤ delta_max`` (absolute put delta; a positive delta on a put is bad data);
- ``dte_min ≤ DTE ≤ dte_max`` (calendar days);
- credit (the bid/ask mid, $/share) ``≥ min_credit``;
- annualized return = credit / strike × 365 / DTE ``≥ min_annualized_return`` (fraction);
- open interest ``≥ min_open_interest``;
- spread (ask − bid) / mid ``≤ max_spread_pct`` (fraction of mid).

Missing data (no bid, no ask, crossed quote, no delta, no open interest) fails with a reason naming
what is missing. Every failing rule adds its own reason; screening never stops at the first.

Score (``docs/wheel-rules.md``): ``annualized_return × prob_otm × liquidity_factor`` where
``prob_otm = 1 − |Δ|`` and the liquidity factor (0..1) is::

    spread_part = clamp(1 − 0.5 × spread_pct / max_spread_pct, 0, 1)  # 1 at 0 spread, 0.5 at the max
    oi_part     = clamp(log10(OI) / log10(1000), 0, 1)                 # 0 at OI ≤ 1, 2/3 at 100, 1 at ≥ 1000
    liquidity_factor = spread_part × oi_part

It is monotone: a tighter spread or more open interest never lowers it. Nearness of delta and DTE to
their targets is used only to break exact score ties in :func:`rank_puts`, never inside the score.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from shared.optionmath import (
    annualized_return,
    bsm_put_delta,
    calendar_dte,
    is_price,
    mid,
    prob_otm_from_delta,
    spread_pct,
)
from shared.strategy import PutRules

__all__ = [
    "OI_FULL_CREDIT",
    "STRIKE_DELTA_MARGIN",
    "PutQuote",
    "Screened",
    "expiries_in_window",
    "liquidity_factor",
    "rank_puts",
    "screen_put",
    "strikes_to_check",
]

#: Open interest at which the open-interest part of the liquidity factor reaches 1.
OI_FULL_CREDIT = 1000
#: Default widening (absolute delta) of the [delta_min, delta_max] band in :func:`strikes_to_check`,
#: absorbing volatility skew and the error of a single IV guess.
STRIKE_DELTA_MARGIN = 0.05
#: Tolerance of the inclusive rule bounds.
_EPS = 1e-9


@dataclass(frozen=True)
class PutQuote:
    """One put as read from TWS. Prices $/share; ``delta`` signed (put < 0) per share; ``iv`` fraction.

    ``None`` (or NaN, or IB's −1 for a price) means the field was not available.
    """

    symbol: str
    con_id: int
    local_symbol: str
    expiry: str  # YYYYMMDD
    strike: float
    multiplier: int
    underlying_price: float
    bid: float | None
    ask: float | None
    delta: float | None
    iv: float | None
    open_interest: int | None


@dataclass(frozen=True)
class Screened:
    """A put with its screening numbers, in the units of the ``opportunities`` table.

    ``mid`` and ``credit`` $/share (the credit is the mid); ``spread_pct``, ``annualized_return`` and
    ``prob_otm`` fractions; ``collateral`` dollars per contract (strike × multiplier);
    ``liquidity_factor`` in 0..1; ``score`` = annualized_return × prob_otm × liquidity_factor (0.0 when
    a part is missing). ``reasons`` lists every failed rule, empty when ``passed``.
    """

    quote: PutQuote
    dte: int
    mid: float | None
    spread_pct: float | None
    credit: float | None
    collateral: float
    annualized_return: float | None
    prob_otm: float | None
    liquidity_factor: float
    score: float
    passed: bool
    reasons: tuple[str, ...]

    @property
    def abs_delta(self) -> float | None:
        """|Δ| of the quote when it is a usable number, else ``None``."""
        d = self.quote.delta
        if d is None or not _finite(d):
            return None
        return abs(d)


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def _num(value: float) -> str:
    """Two decimals (``0.30``) unless that would hide a difference (``0.3004``)."""
    text = f"{value:.2f}"
    return text if abs(float(text) - value) < 1e-12 else f"{value:.4g}"


def expiries_in_window(expiries: Iterable[str], today: date, rules: PutRules) -> list[str]:
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
    rules: PutRules,
    limit: int = 12,
    *,
    margin: float = STRIKE_DELTA_MARGIN,
    rate: float = 0.04,
) -> list[float]:
    """Put strikes worth requesting market data for, at most ``limit``, nearest the target delta first.

    Keeps out-of-the-money strikes (strictly below ``spot``) whose Black-Scholes-Merton put delta,
    computed at ``iv_guess`` (annual fraction, e.g. the underlying's ATM implied volatility) and
    ``dte`` calendar days (minimum 1), has ``|Δ|`` in ``[delta_min − margin, delta_max + margin]``.
    Ordered by ``|(|Δ|) − delta_target|``, then higher strike first; duplicates removed. Used to keep
    TWS market-data lines low; the real screening uses TWS's own greeks.
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
    found: dict[float, float] = {}
    for strike in strikes:
        k = float(strike)
        if not is_price(k) or k >= spot or k in found:
            continue
        d = abs(bsm_put_delta(spot, k, t_years, iv_guess, rate=rate))
        if lo - _EPS <= d <= hi + _EPS:
            found[k] = d
    ordered = sorted(found, key=lambda k: (abs(found[k] - rules.delta_target), -k))
    return ordered[:limit]


def liquidity_factor(spread: float | None, open_interest: int | None, rules: PutRules) -> float:
    """Liquidity factor in [0, 1] from the spread (fraction of mid) and open interest (contracts).

    ``clamp(1 − 0.5 × spread / max_spread_pct, 0, 1) × clamp(log10(OI) / log10(1000), 0, 1)``; 0.0 when
    either input is missing. Non-increasing in ``spread``, non-decreasing in ``open_interest``.
    """
    if not _finite(spread) or not _finite(open_interest):
        return 0.0
    assert spread is not None and open_interest is not None
    spread_part = min(1.0, max(0.0, 1.0 - 0.5 * max(spread, 0.0) / rules.max_spread_pct))
    oi = max(float(open_interest), 1.0)
    oi_part = min(1.0, max(0.0, math.log10(oi) / math.log10(OI_FULL_CREDIT)))
    return spread_part * oi_part


def screen_put(q: PutQuote, rules: PutRules, today: date) -> Screened:
    """Apply the CSP entry rules to one put; every failed rule is listed in ``reasons``.

    Raises ``ValueError`` only for a malformed ``q.expiry`` (not ``YYYYMMDD``), which is a bug in the
    caller rather than a market condition.
    """
    reasons: list[str] = []
    dte = calendar_dte(q.expiry, today)

    strike_ok = is_price(q.strike)
    multiplier_ok = _finite(q.multiplier) and q.multiplier > 0
    if not strike_ok:
        reasons.append(f"strike {q.strike!r} is not a positive price")
    if not multiplier_ok:
        reasons.append(f"multiplier {q.multiplier!r} is not positive")
    collateral = float(q.strike) * q.multiplier if strike_ok and multiplier_ok else 0.0

    # Quote: bid, ask, mid, spread.
    bid_ok, ask_ok = is_price(q.bid), is_price(q.ask)
    if not bid_ok:
        reasons.append("no bid")
    if not ask_ok:
        reasons.append("no ask")
    m = mid(q.bid, q.ask)
    sp = spread_pct(q.bid, q.ask)
    if bid_ok and ask_ok and m is None:
        reasons.append(f"crossed quote (bid {_num(q.bid or 0)} > ask {_num(q.ask or 0)})")

    # Delta and probability OTM.
    prob: float | None = None
    abs_delta: float | None = None
    if not _finite(q.delta):
        reasons.append("no delta")
    else:
        assert q.delta is not None
        if abs(q.delta) > 1.0:
            reasons.append(f"delta {_num(q.delta)} is outside [-1, 0]")
        elif q.delta > 0:
            reasons.append(f"delta {_num(q.delta)} is positive; a put's delta is negative")
        else:
            abs_delta = abs(q.delta)
            prob = prob_otm_from_delta(q.delta)
            if abs_delta < rules.delta_min - _EPS:
                reasons.append(f"delta {_num(abs_delta)} < min {_num(rules.delta_min)}")
            if abs_delta > rules.delta_max + _EPS:
                reasons.append(f"delta {_num(abs_delta)} > max {_num(rules.delta_max)}")

    # Days to expiry.
    if dte < rules.dte_min:
        reasons.append(f"dte {dte} < min {rules.dte_min}")
    if dte > rules.dte_max:
        reasons.append(f"dte {dte} > max {rules.dte_max}")

    # Credit and annualized return on collateral.
    credit = m
    ann: float | None = None
    if credit is not None:
        if credit < rules.min_credit - _EPS:
            reasons.append(f"credit {credit:.2f} < min {rules.min_credit:.2f}")
        if strike_ok:
            ann = annualized_return(credit, float(q.strike), dte)
            if ann < rules.min_annualized_return - _EPS:
                reasons.append(f"annualized return {_pct(ann)} < min {_pct(rules.min_annualized_return)}")

    # Liquidity.
    oi_ok = _finite(q.open_interest)
    if not oi_ok:
        reasons.append("no open interest")
    elif (q.open_interest or 0) < rules.min_open_interest:
        reasons.append(f"open interest {q.open_interest} < min {rules.min_open_interest}")
    if sp is not None and sp > rules.max_spread_pct + _EPS:
        reasons.append(f"spread {_pct(sp)} of mid > max {_pct(rules.max_spread_pct)}")

    liq = liquidity_factor(sp, q.open_interest if oi_ok else None, rules)
    score = ann * prob * liq if ann is not None and prob is not None else 0.0
    return Screened(
        quote=q,
        dte=dte,
        mid=m,
        spread_pct=sp,
        credit=credit,
        collateral=collateral,
        annualized_return=ann,
        prob_otm=prob,
        liquidity_factor=liq,
        score=score,
        passed=not reasons,
        reasons=tuple(reasons),
    )


def _rank_key(s: Screened, rules: PutRules) -> tuple[float, float, int, str, str, float, int]:
    d = s.abs_delta
    delta_gap = abs(d - rules.delta_target) if d is not None else math.inf
    q = s.quote
    return (-s.score, delta_gap, abs(s.dte - rules.dte_target), q.symbol, q.expiry, -q.strike, q.con_id)


def rank_puts(
    screened: Iterable[Screened],
    rules: PutRules,
    *,
    cap_by_symbol: Mapping[str, int] | None = None,
) -> list[Screened]:
    """Passed puts only, best first, at most ``rules.max_candidates_per_symbol`` per symbol.

    Order: higher score first; exact ties by |Δ| nearer ``delta_target``, then DTE nearer
    ``dte_target``, then symbol, expiry, higher strike, con_id — so the result is deterministic for any
    input order. ``cap_by_symbol`` overrides the cap for listed symbols (per-symbol ``PutRules``
    overrides); other symbols use ``rules.max_candidates_per_symbol``. Position in the list + 1 is the
    ``opportunities.rank``.
    """
    caps = cap_by_symbol or {}
    ordered = sorted((s for s in screened if s.passed), key=lambda s: _rank_key(s, rules))
    taken: dict[str, int] = {}
    out: list[Screened] = []
    for s in ordered:
        sym = s.quote.symbol
        cap = caps.get(sym, rules.max_candidates_per_symbol)
        if taken.get(sym, 0) >= cap:
            continue
        taken[sym] = taken.get(sym, 0) + 1
        out.append(s)
    return out
