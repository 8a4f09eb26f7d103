"""Pure figures from daily bars for the entry rules that need history (wheel-rules "Entry screening").
No I/O: :mod:`scanner.history` reads and caches the bars, :mod:`scanner.historyrules` applies the rules.

Units: implied and historical volatilities are annualized fractions (0.25 = 25 %), as IB's
``OPTION_IMPLIED_VOLATILITY`` and ``HISTORICAL_VOLATILITY`` daily bars give them; prices are dollars per
share; the IV rank is a fraction in 0..1 ("IVR 30" = 0.30); the RSI is in 0..100. Every function takes
its series oldest first and answers ``None`` when the series is too short or the figure is undefined
(never a guess).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["IV_RANK_BARS", "iv_hv_ratio", "iv_rank", "rsi_wilder", "sma"]

#: Daily bars in 52 weeks of sessions, the IV rank's look-back.
IV_RANK_BARS = 252


def _clean(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def iv_rank(ivs: Sequence[float], window: int = IV_RANK_BARS) -> float | None:
    """52-week IV rank: ``(IV_now − min) ÷ (max − min)`` over the last ``window`` IV bars (IV_now = the
    last bar, included in the min and max), a fraction in [0, 1] (tastytrade "IV rank").

    Non-finite and non-positive bars are dropped first (IB sends none, a broken feed might). ``None``
    with fewer than two bars, or when the window's IV is flat (max = min: the rank is undefined).
    """
    if window < 2:
        raise ValueError(f"window must be at least 2 bars, got {window}")
    clean = [v for v in _clean(ivs) if v > 0][-window:]
    if len(clean) < 2:
        return None
    now, lo, hi = clean[-1], min(clean), max(clean)
    if hi - lo <= 1e-12:
        return None
    return (now - lo) / (hi - lo)


def iv_hv_ratio(iv: float | None, hv: float | None) -> float | None:
    """Implied over historical volatility, ``IV ÷ HV`` (both annualized fractions, e.g. IB's 30-day
    implied and 30-day historical volatility of the same day); ``None`` when either is missing or HV ≤ 0.
    Above 1 the options are priced richer than the stock has moved (a variance risk premium to sell)."""
    if iv is None or hv is None or not math.isfinite(iv) or not math.isfinite(hv) or hv <= 0 or iv < 0:
        return None
    return iv / hv


def sma(closes: Sequence[float], n: int = 200) -> float | None:
    """Simple moving average of the last ``n`` closes ($/share); ``None`` with fewer than ``n`` closes."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    clean = _clean(closes)
    if len(clean) < n:
        return None
    return sum(clean[-n:]) / n


def rsi_wilder(closes: Sequence[float], n: int = 14) -> float | None:
    """Wilder's relative strength index RSI(n) of the last close, in [0, 100].

    With changes ``d_i = C_i − C_{i−1}``, gains ``U_i = max(d_i, 0)`` and losses ``D_i = max(−d_i, 0)``:
    the first averages are the simple means of the first ``n`` gains and losses; each later change
    smooths them, ``avg = (avg_prev × (n − 1) + x_i) ÷ n`` (Wilder 1978); ``RS = avg_gain ÷ avg_loss`` and
    ``RSI = 100 − 100 ÷ (1 + RS)``. No losses: 100 (50 when the closes never moved). ``None`` with fewer
    than ``n + 1`` closes.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    clean = _clean(closes)
    if len(clean) < n + 1:
        return None
    changes = [b - a for a, b in zip(clean, clean[1:], strict=False)]
    gain = sum(max(d, 0.0) for d in changes[:n]) / n
    loss = sum(max(-d, 0.0) for d in changes[:n]) / n
    for d in changes[n:]:
        gain = (gain * (n - 1) + max(d, 0.0)) / n
        loss = (loss * (n - 1) + max(-d, 0.0)) / n
    if loss <= 0:
        return 50.0 if gain <= 0 else 100.0
    return 100.0 - 100.0 / (1.0 + gain / loss)
