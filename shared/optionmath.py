"""Pure option arithmetic used by the scanner and the executor. No I/O, no TWS.

Units, as everywhere in thetawheel (see ``shared/schema.py``): prices are dollars per share, deltas
are per share and signed (a put's delta is negative), returns and spreads are fractions
(0.12 = 12 %), DTE is calendar days, times for the Black-Scholes-Merton model are years of 365 days.

Sources:
- Annualized return on collateral = premium / collateral × 365 / DTE: the ibkr-options-income rule
  quoted in ``docs/wheel-rules.md`` (for a cash-secured put the collateral per share is the strike).
- Probability of expiring out of the money ≈ 1 − |Δ|: the common practitioner approximation
  (tastytrade). It is the risk-neutral N(d1) proxy, not N(d2) and not a real-world probability.
- Put and call deltas: Black-Scholes-Merton with a continuous dividend yield, Δ_put = −e^(−qT)·N(−d1),
  Δ_call = e^(−qT)·N(d1) (J. C. Hull, *Options, Futures, and Other Derivatives*, ch. 15 and 19).
- Minimum price variation of US equity options: the Penny Interval Program (Cboe / MIAX / Nasdaq
  exchange rules, permanent since 2020-07-01): classes in the program quote $0.01 below $3.00 and
  $0.05 at or above $3.00, except SPY, QQQ and IWM which quote $0.01 at every price; classes outside
  the program quote $0.05 below $3.00 and $0.10 at or above. The authoritative increment of a given
  contract is TWS's market rule (``ContractDetails.marketRuleIds``); :func:`option_tick` is the
  offline default.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

__all__ = [
    "PENNY_ALL_PRICES_CLASSES",
    "annualized_return",
    "bsm_call_delta",
    "bsm_put_delta",
    "calendar_dte",
    "is_price",
    "mid",
    "norm_cdf",
    "option_tick",
    "prob_otm_from_delta",
    "round_to_tick",
    "spread_pct",
]

_EXPIRY = re.compile(r"^\d{8}$")

#: Option classes that quote in $0.01 at every price under the Penny Interval Program.
PENNY_ALL_PRICES_CLASSES: frozenset[str] = frozenset({"SPY", "QQQ", "IWM"})

#: Prices are rounded to this many decimal places before tick arithmetic, to strip binary float noise
#: (1.1500000000000001 → 1.15) so that rounding *up* never jumps a whole tick because of it.
_NOISE = Decimal("1e-9")


def calendar_dte(expiry: str | date, today: date) -> int:
    """Calendar days from ``today`` to ``expiry`` (0 on expiration day, negative once it has passed).

    ``expiry`` is IB's ``lastTradeDateOrContractMonth`` for an option, ``"YYYYMMDD"``, or a ``date``.
    Raises ``ValueError`` naming the value when the string is not a valid ``YYYYMMDD`` date.
    """
    if isinstance(expiry, datetime):
        expiry = expiry.date()
    if isinstance(expiry, date):
        return (expiry - today).days
    text = expiry.strip() if isinstance(expiry, str) else expiry
    if not isinstance(text, str) or not _EXPIRY.match(text):
        raise ValueError(f"expiry {expiry!r} is not a YYYYMMDD date")
    try:
        day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise ValueError(f"expiry {expiry!r} is not a valid date: {exc}") from None
    return (day - today).days


def annualized_return(credit: float, collateral_per_share: float, dte: int) -> float:
    """Simple (not compounded) annualized return on collateral, as a fraction.

    ``credit / collateral_per_share × 365 / dte`` (ibkr-options-income). Both money amounts are dollars
    per share; for a cash-secured put the collateral per share is the strike. Example: $3.00 on a $600
    strike for 30 days → 3/600 × 365/30 = 0.0608 (6.08 %).

    ``dte`` below 1 (expiration day, or a stale expiry) is treated as 1 day so the result stays
    finite; such contracts are outside any sensible DTE window and fail screening on DTE anyway.
    Raises ``ValueError`` when ``collateral_per_share`` is not a positive finite number.
    """
    if not is_price(collateral_per_share):
        raise ValueError(f"collateral per share must be positive, got {collateral_per_share!r}")
    days = max(int(dte), 1)
    return credit / collateral_per_share * 365.0 / days


def prob_otm_from_delta(delta: float) -> float:
    """Approximate probability that the option expires out of the money: ``1 − |Δ|`` (fraction).

    The common practitioner approximation (tastytrade: "a 30-delta option has roughly a 70 % chance of
    expiring OTM"). Accepts signed or absolute delta. A 0.25-delta (or −0.25) put → 0.75.
    Raises ``ValueError`` when delta is NaN/inf or |Δ| > 1.
    """
    if not math.isfinite(delta) or abs(delta) > 1.0:
        raise ValueError(f"delta must be a finite number in [-1, 1], got {delta!r}")
    return 1.0 - abs(delta)


def is_price(value: float | None) -> bool:
    """True when ``value`` is a usable quote: a finite number > 0 (IB sends -1 or NaN for "no quote")."""
    return value is not None and isinstance(value, int | float) and math.isfinite(value) and value > 0


def _dec(value: float) -> Decimal:
    """The decimal a human would write for ``value`` (``repr`` is the shortest round-tripping form)."""
    return Decimal(repr(float(value)))


def mid(bid: float | None, ask: float | None) -> float | None:
    """Bid/ask midpoint in dollars per share, or ``None`` when there is no two-sided market.

    ``None`` when either side is missing, NaN, infinite or ≤ 0, or when the quote is crossed
    (bid > ask). A locked quote (bid == ask) has mid = bid. Computed in decimal so that
    ``mid(0.1, 0.2)`` is exactly 0.15, not 0.15000000000000002.
    """
    if not (is_price(bid) and is_price(ask)):
        return None
    assert bid is not None and ask is not None
    if bid > ask:
        return None
    return float((_dec(bid) + _dec(ask)) / 2)


def spread_pct(bid: float | None, ask: float | None) -> float | None:
    """Bid-ask spread as a fraction of the mid: ``(ask − bid) / mid``; ``None`` when :func:`mid` is None.

    Example: bid 0.95, ask 1.05 → 0.10 / 1.00 = 0.10 exactly (decimal arithmetic).
    """
    m = mid(bid, ask)
    if m is None:
        return None
    assert bid is not None and ask is not None
    return float((_dec(ask) - _dec(bid)) / _dec(m))


RoundMode = Literal["nearest", "up", "down"]


def round_to_tick(price: float, tick: float, mode: RoundMode = "nearest") -> float:
    """Round ``price`` to a multiple of ``tick`` (dollars), returning the exact decimal as a float.

    ``mode``:
    - ``"nearest"`` (default; the executor's limit at mid): the closest multiple, an exact half tick
      rounds away from zero (1.125 at 0.05 → 1.15, the seller-friendly side of a SELL at mid);
    - ``"up"``: the smallest multiple ≥ price (use for a SELL floor you must not go below);
    - ``"down"``: the largest multiple ≤ price (use for a BUY cap you must not exceed).

    The price is first rounded to 9 decimal places to strip binary float noise, so
    ``round_to_tick(1.1500000000000001, 0.05, "up") == 1.15``. Negative prices (net credits of combo
    orders) are allowed; "up"/"down" mean toward +∞/−∞.
    Raises ``ValueError`` on a non-finite price, a tick that is not a positive finite number, or an
    unknown mode.
    """
    if not math.isfinite(price):
        raise ValueError(f"price must be finite, got {price!r}")
    if not is_price(tick):
        raise ValueError(f"tick must be a positive number, got {tick!r}")
    rounding = {"nearest": ROUND_HALF_UP, "up": ROUND_CEILING, "down": ROUND_FLOOR}.get(mode)
    if rounding is None:
        raise ValueError(f"mode must be 'nearest', 'up' or 'down', got {mode!r}")
    step = _dec(tick)
    try:
        clean = _dec(price).quantize(_NOISE, rounding=ROUND_HALF_UP)
        units = (clean / step).to_integral_value(rounding=rounding)
    except InvalidOperation as exc:  # pragma: no cover - only for absurd magnitudes
        raise ValueError(f"cannot round {price!r} to tick {tick!r}") from exc
    return float(units * step)


def option_tick(price: float, penny_pilot: bool = True, all_prices_penny: bool = False) -> float:
    """Minimum price increment (dollars) of a US equity option quoted at ``price`` dollars per share.

    Penny Interval Program (Cboe; successor of the 2007 Penny Pilot; exchange rules since 2020-07-01):
    - ``all_prices_penny`` (SPY, QQQ, IWM — see :data:`PENNY_ALL_PRICES_CLASSES`): 0.01 at any price;
    - ``penny_pilot`` class (default; most liquid names, e.g. AAPL, KO): 0.01 below $3.00,
      0.05 at or above $3.00;
    - otherwise (not in the program): 0.05 below $3.00, 0.10 at or above $3.00.

    The boundary is the option price, inclusive at $3.00 (3.00 itself quotes in the wider tick).
    Prefer the contract's TWS market rule when available; this is the documented offline default.
    """
    if not math.isfinite(price):
        raise ValueError(f"price must be finite, got {price!r}")
    if all_prices_penny:
        return 0.01
    below_three = abs(price) < 3.0
    if penny_pilot:
        return 0.01 if below_three else 0.05
    return 0.05 if below_three else 0.10


def norm_cdf(x: float) -> float:
    """Standard normal cumulative distribution function N(x)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _bsm_d1(spot: float, strike: float, t_years: float, iv: float, rate: float, q: float) -> float | None:
    """``d1 = (ln(S/K) + (r − q + σ²/2)·T) / (σ·√T)``, or ``None`` at expiry (``T ≤ 0`` or ``σ ≤ 0``).

    Raises ``ValueError`` when spot or strike is not a positive finite number.
    """
    if not is_price(spot):
        raise ValueError(f"spot must be positive, got {spot!r}")
    if not is_price(strike):
        raise ValueError(f"strike must be positive, got {strike!r}")
    if not (math.isfinite(t_years) and math.isfinite(iv)) or t_years <= 0 or iv <= 0:
        return None
    vol_t = iv * math.sqrt(t_years)
    return (math.log(spot / strike) + (rate - q + 0.5 * iv * iv) * t_years) / vol_t


def bsm_put_delta(
    spot: float, strike: float, t_years: float, iv: float, rate: float = 0.04, q: float = 0.0
) -> float:
    """Black-Scholes-Merton delta of a European put, per share, signed (in [−1, 0]).

    ``Δ_put = −e^(−qT) · N(−d1)``, ``d1 = (ln(S/K) + (r − q + σ²/2)·T) / (σ·√T)`` (Hull, ch. 15/19).
    ``spot`` and ``strike`` in dollars, ``t_years`` in years (calendar days / 365), ``iv`` (σ), ``rate``
    (r, continuously compounded) and ``q`` (dividend yield) as annual fractions.

    It is an estimate for choosing which strikes to request from TWS (US equity options are American;
    the early-exercise premium of a put barely moves delta at 30–45 DTE). With ``t_years ≤ 0`` or
    ``iv ≤ 0`` the limit at expiry is returned: −1 in the money, 0 out of the money, −0.5 at the money.
    Raises ``ValueError`` when spot or strike is not a positive finite number.
    """
    d1 = _bsm_d1(spot, strike, t_years, iv, rate, q)
    if d1 is None:
        if strike > spot:
            return -1.0
        return -0.5 if strike == spot else 0.0
    return -math.exp(-q * t_years) * norm_cdf(-d1)


def bsm_call_delta(
    spot: float, strike: float, t_years: float, iv: float, rate: float = 0.04, q: float = 0.0
) -> float:
    """Black-Scholes-Merton delta of a European call, per share (in [0, 1]).

    ``Δ_call = e^(−qT) · N(d1)``, ``d1`` as in :func:`bsm_put_delta` (Hull, *Options, Futures, and Other
    Derivatives*, ch. 15 and 19); the same units: dollars, years of 365 days, annual fractions. Without
    dividends (``q = 0``) ``Δ_call = Δ_put + 1`` (put-call parity).

    An estimate for choosing which call strikes to request from TWS (American calls on a stock that pays
    a dividend before expiry may be exercised early; TWS's own greeks decide the screen). With
    ``t_years ≤ 0`` or ``iv ≤ 0`` the limit at expiry is returned: 1 in the money, 0 out of the money,
    0.5 at the money. Raises ``ValueError`` when spot or strike is not a positive finite number.
    """
    d1 = _bsm_d1(spot, strike, t_years, iv, rate, q)
    if d1 is None:
        if strike < spot:
            return 1.0
        return 0.5 if strike == spot else 0.0
    return math.exp(-q * t_years) * norm_cdf(d1)
