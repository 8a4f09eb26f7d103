"""Pure entry rules that need history (wheel-rules "Entry screening"), applied after the per-contract
screen (:mod:`scanner.screen`). No I/O: :mod:`scanner.history` and :mod:`scanner.earnings` gather the
:class:`SymbolHistory`; this module only decides.

Rules (``EntryRules``; bounds compared with the screen's tolerance ``EPS``):

- **earnings** (``avoid_earnings``, ibkr-options-income): with ``N`` the symbol's next report date on or
  after today, an expiry ``E`` fails when ``E ≥ N − earnings_buffer_days`` (calendar days): on or after
  the report (``"earnings 2026-12-18 on/before expiry 2026-12-24"``) or within the buffer before it
  (``"expiry 2026-12-10 within 14 days before earnings 2026-12-18"``). No known next date: nothing is
  removed and the symbol's note says so.
- **IV rank** (``min_iv_rank`` > 0, tastytrade "IVR ≥ 30"): 52-week IV rank ``< min_iv_rank`` fails
  (``"IV rank 0.22 < 0.30"``).
- **IV/HV** (``min_iv_hv_ratio`` > 0): last IV bar ÷ last HV bar ``< min_iv_hv_ratio`` fails.
- **SMA200** (``require_above_sma200``): the last close must be strictly above its 200-day SMA.
- **RSI(14)** (``rsi_filter``): Wilder RSI(14) must be strictly below ``max_rsi14``.

A rule whose figure is unavailable (no bars from TWS, too short a history) is skipped for that symbol,
never fails the contract: :func:`apply_history_rules` returns a note naming it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from scanner.screen import EPS, Screened
from shared.strategy import EntryRules

__all__ = [
    "SymbolHistory",
    "apply_history_rules",
    "earnings_cutoff",
    "next_earnings",
    "removed_counts",
    "removed_text",
    "rule_of",
]


@dataclass(frozen=True)
class SymbolHistory:
    """What history says about one underlying on the scan's day.

    ``iv`` / ``hv``: the last ``OPTION_IMPLIED_VOLATILITY`` / ``HISTORICAL_VOLATILITY`` bar (annualized
    fractions); ``iv_rank`` 0..1 over 52 weeks; ``iv_hv_ratio`` = iv ÷ hv; ``close`` and ``sma200``
    $/share; ``rsi14`` 0..100; ``next_earnings`` the next report date on or after the scan's day.
    ``None``: not known. ``missing`` names why a figure is absent (``{"iv": "no OPTION_IMPLIED_VOLATILITY
    bars from TWS"}``); ``earnings_source`` is ``file``, ``projected`` or ``yfinance``.
    """

    symbol: str
    iv: float | None = None
    iv_rank: float | None = None
    hv: float | None = None
    iv_hv_ratio: float | None = None
    close: float | None = None
    sma200: float | None = None
    rsi14: float | None = None
    next_earnings: date | None = None
    earnings_source: str = ""
    missing: tuple[tuple[str, str], ...] = ()

    def figures(self) -> dict[str, float | str | None]:
        """The figures stored with each opportunity and ``scan_symbols`` row (their column names;
        ``next_earnings`` as ``YYYY-MM-DD``)."""
        return {
            "iv": self.iv,
            "iv_rank": self.iv_rank,
            "hv": self.hv,
            "iv_hv_ratio": self.iv_hv_ratio,
            "next_earnings": self.next_earnings.isoformat() if self.next_earnings else None,
            "sma200": self.sma200,
            "rsi14": self.rsi14,
        }

    def why_missing(self, figure: str) -> str:
        """The recorded reason a figure is absent, or a generic one."""
        return dict(self.missing).get(figure, "not available")


def next_earnings(dates: Iterable[date], today: date) -> date | None:
    """The first report date on or after ``today`` (a report today still lies ahead of every expiry)."""
    ahead = [d for d in dates if d >= today]
    return min(ahead) if ahead else None


def earnings_cutoff(earnings: date, buffer_days: int) -> date:
    """The first expiry the earnings rule removes: ``earnings − buffer_days`` (calendar days)."""
    return earnings - timedelta(days=buffer_days)


def _expiry_date(expiry: str) -> date:
    text = expiry.strip()[:8]
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _num(value: float) -> str:
    return f"{value:.2f}"


def _reasons_for(s: Screened, rules: EntryRules, h: SymbolHistory) -> list[str]:
    out: list[str] = []
    if rules.avoid_earnings and h.next_earnings is not None:
        exp = _expiry_date(s.quote.expiry)
        if exp >= h.next_earnings:
            out.append(f"earnings {h.next_earnings.isoformat()} on/before expiry {exp.isoformat()}")
        elif exp >= earnings_cutoff(h.next_earnings, rules.earnings_buffer_days):
            out.append(
                f"expiry {exp.isoformat()} within {rules.earnings_buffer_days} days before earnings "
                f"{h.next_earnings.isoformat()}"
            )
    if rules.min_iv_rank > 0 and h.iv_rank is not None and h.iv_rank < rules.min_iv_rank - EPS:
        out.append(f"IV rank {_num(h.iv_rank)} < {_num(rules.min_iv_rank)}")
    if (
        rules.min_iv_hv_ratio > 0
        and h.iv_hv_ratio is not None
        and h.iv_hv_ratio < rules.min_iv_hv_ratio - EPS
    ):
        out.append(f"IV/HV {_num(h.iv_hv_ratio)} < {_num(rules.min_iv_hv_ratio)}")
    if (
        rules.require_above_sma200
        and h.close is not None
        and h.sma200 is not None
        and h.close <= h.sma200 + EPS
    ):
        out.append(f"close {_num(h.close)} not above SMA200 {_num(h.sma200)}")
    if rules.rsi_filter and h.rsi14 is not None and h.rsi14 >= rules.max_rsi14 - EPS:
        out.append(f"RSI(14) {h.rsi14:.1f} ≥ max {rules.max_rsi14:g}")
    return out


def _skipped(rules: EntryRules, h: SymbolHistory) -> list[str]:
    """Notes for the enabled rules whose figure is unknown (the rule was not applied), and for an
    earnings date that is only projected."""
    notes: list[str] = []
    if rules.avoid_earnings and h.next_earnings is None:
        notes.append(f"no next earnings date known ({h.why_missing('earnings')}): earnings rule not applied")
    elif rules.avoid_earnings and h.earnings_source == "projected":
        assert h.next_earnings is not None
        notes.append(
            f"next earnings {h.next_earnings.isoformat()} projected from a year before (not announced)"
        )
    if rules.min_iv_rank > 0 and h.iv_rank is None:
        notes.append(f"IV rank unknown ({h.why_missing('iv_rank')}): IV rank rule skipped")
    if rules.min_iv_hv_ratio > 0 and h.iv_hv_ratio is None:
        notes.append(f"IV/HV unknown ({h.why_missing('iv_hv_ratio')}): IV/HV rule skipped")
    if rules.require_above_sma200 and (h.sma200 is None or h.close is None):
        notes.append(f"SMA200 unknown ({h.why_missing('sma200')}): SMA200 rule skipped")
    if rules.rsi_filter and h.rsi14 is None:
        notes.append(f"RSI(14) unknown ({h.why_missing('rsi14')}): RSI rule skipped")
    return notes


def apply_history_rules(
    screened: Sequence[Screened], rules: EntryRules, history: SymbolHistory
) -> tuple[list[Screened], list[str]]:
    """The screened contracts of one symbol and right with the history rules' failures added to their
    ``reasons`` (a failing contract gets ``passed=False``), in the same order, and the notes of the rules
    that could not be applied. Contracts that already failed get the reasons too, so the per-rule counts
    (:func:`removed_counts`) say everything that removed them."""
    out: list[Screened] = []
    for s in screened:
        extra = _reasons_for(s, rules, history)
        out.append(replace(s, passed=False, reasons=(*s.reasons, *extra)) if extra else s)
    return out, _skipped(rules, history)


#: Reason prefixes → the rule key used in ``scan_symbols.removed`` (first match wins). A greek or an open
#: interest that never arrived counts as ``no_data``, not as the rule it stops: "delta 12" must mean twelve
#: deltas outside the band, not quotes TWS did not send in time.
_RULE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("earnings ", "earnings"),
    ("expiry ", "earnings"),
    ("IV rank", "iv_rank"),
    ("IV/HV", "iv_hv"),
    ("close ", "sma200"),
    ("RSI", "rsi14"),
    ("delta", "delta"),
    ("no delta", "no_data"),
    ("dte", "dte"),
    ("credit", "credit"),
    ("annualized return", "return"),
    ("open interest", "open_interest"),
    ("no open interest", "no_data"),
    ("spread", "spread"),
    ("no bid", "quote"),
    ("no ask", "quote"),
    ("crossed quote", "quote"),
    ("collateral", "risk_limit"),
    ("strike", "strike"),
)


def rule_of(reason: str) -> str:
    """The rule key a screening reason belongs to (``"IV rank 0.22 < 0.30"`` → ``iv_rank``); ``other``."""
    for prefix, key in _RULE_PREFIXES:
        if reason.startswith(prefix):
            return key
    return "other"


def removed_counts(screened: Iterable[Screened]) -> Counter[str]:
    """Contracts each rule removed (a contract failing two rules counts under both, once per rule)."""
    counts: Counter[str] = Counter()
    for s in screened:
        if not s.passed:
            counts.update({rule_of(r) for r in s.reasons})
    return counts


def removed_text(counts: Counter[str]) -> str:
    """``"delta 14, earnings 6, iv_rank 9"``: most contracts first, then by name."""
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
