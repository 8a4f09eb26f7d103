"""Pure entry screening and ranking of cash-secured puts (CSP) and covered calls (CC). No I/O, no TWS.

The scanner process reads option chains from TWS, builds one :class:`OptionQuote` per contract and
calls :func:`screen_put` or :func:`screen_call` on each, then :func:`rank_candidates` on all of one
scan. :mod:`scanner.preselect` decides beforehand which contracts are worth requesting market data for.

Rules (``PutRules`` / ``CallRules``, defaults and sources in ``docs/wheel-rules.md``), all bounds
inclusive, compared with a tolerance of 1e-9 so float noise never flips a boundary value:

- ``delta_min ≤ |Δ| ≤ delta_max`` (absolute delta; a positive delta on a put, or a negative delta on
  a call, is bad data);
- ``dte_min ≤ DTE ≤ dte_max`` (calendar days);
- credit (the bid/ask mid, $/share) ``≥ min_credit``;
- annualized return ``≥ min_annualized_return`` (fraction): credit / strike × 365 / DTE for a put
  (return on the cash collateral), credit / underlying price × 365 / DTE for a call (return on the
  shares' value);
- open interest ``≥ min_open_interest``;
- spread (ask − bid) / mid ``≤ max_spread_pct`` (fraction of mid);
- calls only, when ``strike_at_or_above_cost_basis``: strike ``≥`` the shares' adjusted cost basis
  ($/share), so an assignment never locks in a loss (thetagang, ibkr-options-income).

Missing data (no bid, no ask, crossed quote, no delta, no open interest, no underlying price for a
call) fails with a reason naming what is missing. Every failing rule adds its own reason with its
numbers; screening never stops at the first.

Score (``docs/wheel-rules.md``): ``annualized_return × prob_otm × liquidity_factor`` where
``prob_otm = 1 − |Δ|`` and the liquidity factor (0..1) is::

    spread_part = clamp(1 − 0.5 × spread_pct / max_spread_pct, 0, 1)  # 1 at 0 spread, 0.5 at the max
    oi_part     = clamp(log10(OI) / log10(1000), 0, 1)                 # 0 at OI ≤ 1, 2/3 at 100, 1 at ≥ 1000
    liquidity_factor = spread_part × oi_part

It is monotone: a tighter spread or more open interest never lowers it. Nearness of delta and DTE to
their targets is used only to break exact score ties in :func:`rank_candidates`, never inside the score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from shared.optionmath import annualized_return, calendar_dte, is_price, mid, prob_otm_from_delta, spread_pct
from shared.strategy import CallRules, EntryRules, PutRules
from shared.trade import Right

__all__ = [
    "EPS",
    "OI_FULL_CREDIT",
    "OptionQuote",
    "Screened",
    "liquidity_factor",
    "rank_candidates",
    "screen_call",
    "screen_put",
]

#: Open interest at which the open-interest part of the liquidity factor reaches 1.
OI_FULL_CREDIT = 1000
#: Tolerance of the inclusive rule bounds.
EPS = 1e-9


@dataclass(frozen=True)
class OptionQuote:
    """One option as read from TWS. Prices $/share; ``delta`` signed per share (put < 0, call > 0);
    ``iv`` fraction; ``underlying_price`` $/share (TWS's model price of the underlying, else the spot).

    ``None`` (or NaN, or IB's −1 for a price) means the field was not available.
    """

    symbol: str
    con_id: int
    local_symbol: str
    right: Right
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
    """An option with its screening numbers, in the units of the ``opportunities`` table.

    ``mid`` and ``credit`` $/share (the credit is the mid); ``spread_pct``, ``annualized_return`` and
    ``prob_otm`` fractions; ``collateral`` dollars per contract (put: strike × multiplier; call: the
    shares' adjusted cost basis × multiplier); ``cost_basis`` $/share (calls only); ``liquidity_factor``
    in 0..1; ``score`` = annualized_return × prob_otm × liquidity_factor (0.0 when a part is missing).
    ``reasons`` lists every failed rule, empty when ``passed``.
    """

    quote: OptionQuote
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
    cost_basis: float | None = None

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


def liquidity_factor(spread: float | None, open_interest: int | None, rules: EntryRules) -> float:
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


def _delta_reasons(delta: float | None, right: Right, rules: EntryRules) -> tuple[list[str], float | None]:
    """The delta rule's reasons and the probability OTM (``None`` when the delta is unusable)."""
    if not _finite(delta):
        return ["no delta"], None
    assert delta is not None
    put = right is Right.PUT
    if abs(delta) > 1.0:
        return [f"delta {_num(delta)} is outside {'[-1, 0]' if put else '[0, 1]'}"], None
    if put and delta > 0:
        return [f"delta {_num(delta)} is positive; a put's delta is negative"], None
    if not put and delta < 0:
        return [f"delta {_num(delta)} is negative; a call's delta is positive"], None
    reasons = []
    if abs(delta) < rules.delta_min - EPS:
        reasons.append(f"delta {_num(abs(delta))} < min {_num(rules.delta_min)}")
    if abs(delta) > rules.delta_max + EPS:
        reasons.append(f"delta {_num(abs(delta))} > max {_num(rules.delta_max)}")
    return reasons, prob_otm_from_delta(delta)


def _screen(
    q: OptionQuote,
    rules: EntryRules,
    today: date,
    *,
    collateral_per_share: float | None,
    return_base: float | None,
    side_reasons: Sequence[str] = (),
    cost_basis: float | None = None,
) -> Screened:
    """The rules puts and calls share. ``collateral_per_share`` and ``return_base`` ($/share) are
    ``None`` when unusable (their caller names why in ``side_reasons``, listed after the strike)."""
    reasons: list[str] = []
    dte = calendar_dte(q.expiry, today)

    strike_ok = is_price(q.strike)
    multiplier_ok = _finite(q.multiplier) and q.multiplier > 0
    if not strike_ok:
        reasons.append(f"strike {q.strike!r} is not a positive price")
    if not multiplier_ok:
        reasons.append(f"multiplier {q.multiplier!r} is not positive")
    reasons.extend(side_reasons)
    collateral = 0.0
    if collateral_per_share is not None and multiplier_ok:
        collateral = collateral_per_share * q.multiplier

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

    delta_reasons, prob = _delta_reasons(q.delta, q.right, rules)
    reasons.extend(delta_reasons)

    if dte < rules.dte_min:
        reasons.append(f"dte {dte} < min {rules.dte_min}")
    if dte > rules.dte_max:
        reasons.append(f"dte {dte} > max {rules.dte_max}")

    # Credit and annualized return.
    credit = m
    ann: float | None = None
    if credit is not None:
        if credit < rules.min_credit - EPS:
            reasons.append(f"credit {credit:.2f} < min {rules.min_credit:.2f}")
        if return_base is not None:
            ann = annualized_return(credit, return_base, dte)
            if ann < rules.min_annualized_return - EPS:
                reasons.append(f"annualized return {_pct(ann)} < min {_pct(rules.min_annualized_return)}")

    # Liquidity.
    oi_ok = _finite(q.open_interest)
    if not oi_ok:
        reasons.append("no open interest")
    elif (q.open_interest or 0) < rules.min_open_interest:
        reasons.append(f"open interest {q.open_interest} < min {rules.min_open_interest}")
    if sp is not None and sp > rules.max_spread_pct + EPS:
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
        cost_basis=cost_basis,
    )


def _require(q: OptionQuote, right: Right) -> None:
    if q.right is not right:
        raise ValueError(f"{q.local_symbol}: right {q.right!r} given to the {right.name.lower()} screen")


def screen_put(q: OptionQuote, rules: PutRules, today: date) -> Screened:
    """Apply the CSP entry rules to one put; every failed rule is listed in ``reasons``.

    Collateral and the annualized return's base are the strike. Raises ``ValueError`` only for a
    malformed ``q.expiry`` (not ``YYYYMMDD``) or a call given as ``q``: bugs of the caller, not market
    conditions.
    """
    _require(q, Right.PUT)
    strike = float(q.strike) if is_price(q.strike) else None
    return _screen(q, rules, today, collateral_per_share=strike, return_base=strike)


def screen_call(q: OptionQuote, rules: CallRules, today: date, cost_basis: float) -> Screened:
    """Apply the covered-call entry rules to one call on shares whose adjusted cost basis is
    ``cost_basis`` ($/share); every failed rule is listed in ``reasons``.

    With ``rules.strike_at_or_above_cost_basis`` a strike below the cost basis fails
    (``"strike 48 < adjusted cost basis 49.12"``). The annualized return is credit / underlying price ×
    365 / DTE; collateral is cost basis × multiplier (dollars per contract). An unusable cost basis or
    underlying price fails with its own reason. Raises ``ValueError`` only for a malformed ``q.expiry``
    or a put given as ``q``.
    """
    _require(q, Right.CALL)
    side: list[str] = []
    basis = float(cost_basis) if is_price(cost_basis) else None
    if basis is None:
        side.append(f"adjusted cost basis {cost_basis!r} is not a positive price")
    elif rules.strike_at_or_above_cost_basis and is_price(q.strike) and q.strike < basis - EPS:
        side.append(f"strike {q.strike:g} < adjusted cost basis {basis:.2f}")
    underlying = float(q.underlying_price) if is_price(q.underlying_price) else None
    if underlying is None:
        side.append("no underlying price")
    return _screen(
        q,
        rules,
        today,
        collateral_per_share=basis,
        return_base=underlying,
        side_reasons=side,
        cost_basis=basis,
    )


def _rank_key(s: Screened, rules: EntryRules) -> tuple[float, float, int, str, str, str, float, int]:
    d = s.abs_delta
    delta_gap = abs(d - rules.delta_target) if d is not None else math.inf
    q = s.quote
    return (
        -s.score,
        delta_gap,
        abs(s.dte - rules.dte_target),
        q.symbol,
        q.right.value,
        q.expiry,
        -q.strike,
        q.con_id,
    )


def rank_candidates(
    screened: Iterable[Screened], rules_of: Callable[[Screened], EntryRules]
) -> list[Screened]:
    """Passed options only, best first, at most ``max_candidates_per_symbol`` per symbol and right.

    ``rules_of`` gives the rules a candidate was screened with (its symbol's put or call rules), which
    supply the cap and the targets. Order: higher score first; exact ties by |Δ| nearer its
    ``delta_target``, then DTE nearer ``dte_target``, then symbol, right, expiry, higher strike, con_id —
    so the result is deterministic for any input order. Position in the list + 1 is the
    ``opportunities.rank`` (one ranking across puts and calls of a scan).
    """
    passed = [(s, rules_of(s)) for s in screened if s.passed]
    passed.sort(key=lambda pair: _rank_key(*pair))
    taken: dict[tuple[str, Right], int] = {}
    out: list[Screened] = []
    for s, rules in passed:
        key = (s.quote.symbol, s.quote.right)
        if taken.get(key, 0) >= rules.max_candidates_per_symbol:
            continue
        taken[key] = taken.get(key, 0) + 1
        out.append(s)
    return out
